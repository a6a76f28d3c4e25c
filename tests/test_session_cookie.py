"""The signed session cookie is verified once per cookie text, and only that text is trusted
(issue 12: verifying it was a third of a request's fixed cost)."""

from __future__ import annotations

import itsdangerous
import pytest

from docctl.web.session_cookie import VerifiedCookieSessions


@pytest.fixture
def verifications(monkeypatch):
    """How many times a session cookie's signature is checked."""
    count = [0]
    original = itsdangerous.URLSafeTimedSerializer.loads

    def counting(self, *args, **kwargs):
        count[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(itsdangerous.URLSafeTimedSerializer, "loads", counting)
    return count


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_the_same_cookie_is_verified_once(app, client, auth, verifications):
    assert isinstance(app.session_interface, VerifiedCookieSessions)
    assert auth.login("reader").status_code == 302
    assert signed_in(client)  # the first page adds the CSRF token: the cookie changes once more
    assert signed_in(client)
    before = verifications[0]
    for _ in range(5):
        assert signed_in(client)
    assert verifications[0] == before


def test_a_changed_cookie_is_verified_and_a_forged_one_refused(client, auth, verifications):
    assert auth.login("reader").status_code == 302
    assert signed_in(client)
    good = client.get_cookie("session").value
    payload, _, signature = good.rpartition(".")
    forged = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    client.set_cookie("session", forged)
    before = verifications[0]
    assert not signed_in(client)  # checked, not taken from what the good cookie left behind
    assert verifications[0] == before + 1
    client.set_cookie("session", good)
    assert signed_in(client)


def test_a_kept_cookie_still_expires(app, client, auth, monkeypatch):
    import docctl.web.session_cookie as module

    assert auth.login("reader").status_code == 302
    assert signed_in(client) and signed_in(client)  # the cookie is kept now
    lifetime = app.permanent_session_lifetime.total_seconds()
    later = module._now() + lifetime + 60
    monkeypatch.setattr(module, "_now", lambda: later)
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: int(later))
    assert not signed_in(client)


def test_a_session_holding_a_list_is_never_shared(app):
    """Flask changes flashed messages (a list) in place: a kept copy would show them again."""
    sessions = app.session_interface
    cookie = sessions.get_signing_serializer(app).dumps({"_flashes": [["message", "saved"]], "sid": "x"})
    with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}) as ctx:
        first = sessions.open_session(app, ctx.request)
        first["_flashes"].append(["message", "a second one"])
    with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}) as ctx:
        assert sessions.open_session(app, ctx.request)["_flashes"] == [["message", "saved"]]
    assert cookie not in sessions._verified
