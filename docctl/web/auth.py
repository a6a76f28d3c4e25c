"""Logging in and out, API bearer tokens, CSRF on every form.

Sessions come from the ``/login`` form (Flask-Login); scripts send ``Authorization: Bearer
<token>``. Every state-changing request made with a session cookie must carry the CSRF token
(hidden form field or ``X-CSRFToken`` header); bearer-token requests carry no cookie, so they
cannot be forged cross-site and skip it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from ..errors import DocctlError, NotFound, Unauthorized
from .context import instance

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()


def init_app(app) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    app.register_blueprint(bp)

    @app.before_request
    def _protect() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return
        if request.blueprint == "api" and not current_user.is_authenticated:
            # Who you are comes before how you asked: an anonymous write is 401, not a CSRF 400.
            raise Unauthorized("log in first")
        csrf.protect()


@login_manager.user_loader
def _load_user(login: str):
    try:
        person = instance().users.get(login)
    except NotFound:
        return None
    return person if person.active else None


@login_manager.request_loader
def _load_from_token(req):
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        return instance().users.user_for_token(header[len("Bearer ") :].strip())
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
    error = None
    if request.method == "POST":
        try:
            person = instance().users.authenticate(request.form.get("login", ""), request.form.get("password", ""))
        except DocctlError as exc:
            error = exc.message
        else:
            login_user(person)
            if person.must_change_password:
                flash("Set a new password before you continue.")
                return redirect(url_for("home.password"))
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, next=request.args.get("next", "")), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "POST" and current_user.is_authenticated:
        logout_user()
        flash("You are logged out.")
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html")
