"""People managed by administrators: list, add, change roles and units, deactivate, reset a
password, revoke tokens. Every change goes through :mod:`docctl.accounts` (recorded, sessions
ended); changing someone's rights asks for the administrator's password again."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..core.errors import DocctlError, Invalid
from ..stores.people import ROLES
from .context import instance, int_arg, require_role

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app) -> None:
    app.register_blueprint(bp)


def _admin():
    return require_role("admin")


def _confirmed(admin) -> None:
    """The administrator's own password, asked again for every change of rights."""
    instance().users.reauthenticate(admin.login, request.form.get("admin_password", ""))


def _known_units(units) -> list[str]:
    known = instance().workflow.policy().units
    unknown = sorted(set(units) - set(known))
    if unknown:
        raise Invalid("unknown unit(s) %(value)s: add them to the policy first", value=", ".join(unknown))
    return list(units)


@bp.route("/outbox", methods=["GET", "POST"])
def outbox():
    """E-mail that has not gone out: what failed and why, what waits; failed ones can be retried."""
    _admin()
    box = instance().outbox
    if request.method == "POST":
        flash(_("%(n)s message(s) will be sent again.", n=box.retry_failed()))
        return redirect(url_for("admin.outbox"), 303)
    return render_template(
        "admin/outbox.html",
        counts=box.counts(),
        failed=box.messages(state="failed", limit=100),
        pending=box.messages(state="pending", limit=100),
        mail_on=bool(instance().settings["SMTP_HOST"]),
    )


@bp.route("/users")
def users():
    _admin()
    people = instance().users.list()
    sessions = {p.login: len(instance().sessions.live(p.login)) for p in people}
    return render_template("admin/users.html", people=people, sessions=sessions)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    admin = _admin()
    form = {"login": "", "name": "", "email": "", "roles": ["reader"], "units": []}
    error, status = None, 200
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("login", "name", "email")}
        form["roles"], form["units"] = request.form.getlist("roles"), request.form.getlist("units")
        try:
            _confirmed(admin)
            instance().accounts.add(
                admin,
                form["login"],
                name=form["name"],
                email=form["email"],
                roles=form["roles"],
                units=_known_units(form["units"]),
                password=request.form.get("password", ""),
            )
        except DocctlError as exc:
            error, status = exc.message, exc.http_status
        else:
            flash(_("%(login)s added; they must choose their own password at first login.", login=form["login"]))
            return redirect(url_for("admin.user", login=form["login"]))
    return render_template("admin/new.html", form=form, roles=ROLES, error=error), status


@bp.route("/users/<login>", methods=["GET", "POST"])
def user(login: str):
    admin = _admin()
    person = instance().users.get(login)
    error, status = None, 200
    if request.method == "POST":
        try:
            _confirmed(admin)
            instance().accounts.change(
                admin,
                login,
                roles=request.form.getlist("roles"),
                units=_known_units(request.form.getlist("units")),
                name=request.form.get("name") or None,
                email=request.form.get("email") or None,
            )
        except DocctlError as exc:
            error, status = exc.message, exc.http_status
        else:
            flash(_("%(login)s: changes recorded; their sessions have ended if their rights changed.", login=login))
            return redirect(url_for("admin.user", login=login))
    return _user_page(person, error, status)


def _user_page(person, error, status):
    inst = instance()
    return render_template(
        "admin/user.html",
        person=person,
        roles=ROLES,
        tokens=inst.users.list_tokens(person.login),
        sessions=inst.sessions.live(person.login),
        events=inst.users.account_events(person.login)[::-1],
        error=error,
    ), status


def _step(login: str, step: str):
    """Deactivate / activate, reset the password, revoke tokens (all or one)."""
    admin = _admin()
    accounts = instance().accounts
    person = instance().users.get(login)
    try:
        _confirmed(admin)
        if step == "deactivate":
            accounts.set_active(admin, login, False)
            flash(
                _(
                    "%(login)s deactivated: sessions ended, tokens revoked. Their signatures keep their name.",
                    login=login,
                )
            )
        elif step == "activate":
            accounts.set_active(admin, login, True)
            flash(_("%(login)s active again.", login=login))
        elif step == "password":
            accounts.reset_password(admin, login)
            flash(
                _(
                    "A temporary password was sent to %(email)s; %(login)s must choose a new one before signing.",
                    email=person.email,
                    login=login,
                )
            )
        else:  # revoke-tokens
            token_id = request.form.get("token_id")
            if token_id:
                accounts.revoke_token(admin, login, int_arg(token_id, "token_id"))
            else:
                accounts.revoke_tokens(admin, login)
            flash(_("Token(s) of %(login)s revoked.", login=login))
    except DocctlError as exc:
        return _user_page(person, exc.message, exc.http_status)
    return redirect(url_for("admin.user", login=login))


for _step_name in ("deactivate", "activate", "password", "revoke-tokens"):
    bp.add_url_rule(
        f"/users/<login>/{_step_name}",
        f"do_{_step_name.replace('-', '_')}",
        (lambda s: lambda login: _step(login, s))(_step_name),
        methods=["POST"],
    )
