"""Logging in and out, API bearer tokens, CSRF on every form.

Sessions come from the ``/login`` form (Flask-Login); scripts send ``Authorization: Bearer
<token>``. Every state-changing request made with a session cookie must carry the CSRF token
(hidden form field or ``X-CSRFToken`` header); bearer-token requests carry no cookie, so they
cannot be forged cross-site and skip it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect, generate_csrf

from ..core.errors import DocctlError, NotFound, Unauthorized, Unavailable
from ..core.figures import MAX_FIGURE_BYTES
from .context import instance
from .stand_ins import shaping, stand_in

bp = Blueprint("auth", __name__)
# Forms that carry files may be larger than MAX_CONTENT_LENGTH: Word files with figures.
UPLOADS = {"importing.upload": 64 * 1024 * 1024, "changes.edit": MAX_FIGURE_BYTES + 2 * 1024 * 1024}
login_manager = LoginManager()
csrf = CSRFProtect()


def init_app(app) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Flask-Login's "basic" protection only marks a session "not fresh" when the address or
    # browser changes, and docctl has no fresh-login views (a signature asks for the password):
    # it hashed both on every request and rewrote the cookie whenever they changed. The
    # server-side session (logout, idleness, age, deactivation) is what protects.
    login_manager.session_protection = None
    csrf.init_app(app)
    # Flask-WTF offers its own csrf_token() to templates both ways; ours comes after it.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})
    app.register_blueprint(bp)

    @app.before_request
    def _protect() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if request.endpoint in UPLOADS:  # before the CSRF check reads the body
            request.max_content_length = UPLOADS[request.endpoint]
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return
        if request.blueprint == "api" and not current_user.is_authenticated:
            # Who you are comes before how you asked: an anonymous write is 401, not a CSRF 400.
            raise Unauthorized("log in first")
        csrf.protect()


_SIGNED_TOKENS_KEPT = 4096
_SIGNED_TOKENS_LOCK = threading.Lock()


def csrf_token() -> str:
    """The form's CSRF token: Flask-WTF's, signed once per session token instead of once per
    page (``WTF_CSRF_TIME_LIMIT`` is None, so a signature never expires; issue 12)."""
    if shaping():  # a page shared by readers: each request fills in its own token
        return stand_in("csrf")
    signed_tokens: OrderedDict[str, str] = current_app.extensions.setdefault("docctl.csrf_signed", OrderedDict())
    raw = session.get("csrf_token")
    with _SIGNED_TOKENS_LOCK:
        signed = signed_tokens.get(raw) if raw else None
    if signed is None:
        signed = generate_csrf()
        with _SIGNED_TOKENS_LOCK:
            signed_tokens[session["csrf_token"]] = signed
            while len(signed_tokens) > _SIGNED_TOKENS_KEPT:
                signed_tokens.popitem(last=False)
    return signed


@login_manager.user_loader
def _load_user(login: str):
    """The person of a session cookie — only while its server-side session lives (issue 15):
    logout, a password change, a deactivation, changed rights, idleness and age end it. A request
    that carries a bearer token is that token's alone (a revoked token never falls back on a cookie)."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    if not instance().sessions.check(session.get("sid"), login):
        session.clear()
        return None
    try:
        person = instance().users.get(login)
    except NotFound:
        return None
    return person if person.active else None


def client_address() -> str:
    """The client's address (the proxy's ``X-Forwarded-For`` only when PROXY_HOPS trusts it)."""
    return request.remote_addr or ""


def start_session(person) -> None:
    """Log ``person`` in with a new server-side session (a fresh id: no session fixation)."""
    session.clear()
    session["sid"] = instance().sessions.start(person.login, client_address())
    login_user(person)


def end_session() -> None:
    instance().sessions.end(session.get("sid"))
    logout_user()
    session.clear()


@login_manager.request_loader
def _load_from_token(req):
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        return instance().users.user_for_token(header[len("Bearer ") :].strip(), address=client_address())
    except Unavailable:
        raise  # the database is down: 503, not "your token is wrong"
    except DocctlError:
        raise Unauthorized("the API token is not valid") from None


@login_manager.unauthorized_handler
def _unauthorized():
    raise Unauthorized("log in first")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: ``next=https://evil`` or ``//evil`` would be an open redirect."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("home.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        try:
            person = instance().users.authenticate(
                request.form.get("login", ""), request.form.get("password", ""), address=client_address()
            )
        except DocctlError as exc:
            error = exc.message
            status = exc.http_status
        else:
            start_session(person)
            if person.must_change_password:
                flash(_("Set a new password before you continue."))
                return redirect(url_for("home.password"))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, next=request.args.get("next", "")), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "POST" and current_user.is_authenticated:
        end_session()
        flash(_("You are logged out."))
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html")
