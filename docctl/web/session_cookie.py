"""Flask's signed session cookie, verified once per cookie instead of once per request.

A browser sends the same session cookie with every request until the session changes (the
cookie holds the session id, the login and the CSRF token: it is rewritten at login, logout and
on a flashed message). Flask checked its signature on every request: an HMAC, base64 and tagged
JSON, about a third of the fixed cost of a request in docctl (issue 12). The verified contents
are kept per exact cookie text, so only a text that was itself verified is ever trusted; its
age limit still holds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

_SCALARS = (str, bool, int, float, type(None))
_now = time.time  # the wall clock the cookie was signed by (a test moves it)


class VerifiedCookieSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions with the verified cookies of the last ``kept`` sessions kept."""

    def __init__(self, kept: int = 4096) -> None:
        self.kept = kept
        self._verified: OrderedDict[str, tuple[dict, float]] = OrderedDict()
        self._lock = threading.Lock()

    def open_session(self, app, request) -> SecureCookieSession | None:
        if not app.secret_key:
            return None
        text = request.cookies.get(self.get_cookie_name(app))
        if not text:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        with self._lock:
            known = self._verified.get(text)
        if known is not None and _now() - known[1] <= max_age:
            return self.session_class(known[0])  # a new dict per request: the kept one never changes
        try:
            data, signed_at = self.get_signing_serializer(app).loads(text, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        # Only flat contents are kept: a list in a session (flashed messages) is changed in place.
        if isinstance(data, dict) and all(isinstance(v, _SCALARS) for v in data.values()):
            with self._lock:
                self._verified[text] = (dict(data), signed_at.timestamp())
                while len(self._verified) > self.kept:
                    self._verified.popitem(last=False)
        return self.session_class(data)
