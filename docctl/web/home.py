"""Home (my tasks), account password, health."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from ..core.errors import DocctlError, Invalid
from ..mail.notifications import DEFAULTS, KINDS
from ..ops.health import health
from ..reading import paged
from ..stores.outbox import MODES
from .auth import start_session
from .context import instance, int_arg, reader, user
from .fragments import fragment
from .pages import shared_page

bp = Blueprint("home", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _globals():
        inst = instance()
        return {"site_name": inst.settings["SITE_NAME"], "today": inst.today(), "policy_units": _units(inst)}


def _units(inst) -> dict:
    try:
        return inst.workflow.policy().units
    except DocctlError:
        return {}


@bp.route("/")
@login_required
def index():
    person = user()
    scope = reader().review_scope(person)
    reviews = fragment(
        "reviews_due",
        (reader().register_key(), scope),
        64,
        lambda: render_template("home/reviews_due.html", reviews=reader().reviews_due(user=person)),
    )
    tasks = reader().tasks(person)
    # Shared by everyone with the same tasks — most people: nothing to sign, the same documents
    # to confirm (the first 50 are listed). A change's head commit names all it shows.
    listed = tuple((s.doc_id, s.current.revision) for s in tasks["to_confirm"][:50])
    key = (
        reader().register_key(),
        scope,
        listed,
        len(tasks["to_confirm"]),
        *(tuple((c.number, c.head) for c in tasks[kind]) for kind in ("to_sign", "blocked", "drafts")),
        person.must_change_password,
        "author" in person.roles,
    )
    return shared_page("task_pages", key, 256, lambda: render_template("home/index.html", tasks=tasks, reviews=reviews))


@bp.route("/reviews")
@login_required
def reviews():
    unit = request.args.get("unit") or None
    page = max(int_arg(request.args.get("page", 1), "page"), 1)
    # Every document due for review, the same for everyone until main moves or the day changes:
    # rendered once, 100 a page (2,000 rows on a generated long history took 95 ms to render;
    # a county's register can have ten times as many due at once: issue 33).
    return shared_page("review_pages", (reader().register_key(), unit, page), 16, lambda: _reviews_page(unit, page))


def _reviews_page(unit: str | None, page: int) -> str:
    return render_template("home/reviews.html", paged=paged(reader().reviews_due(unit=unit), page), unit=unit or "")


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    error = None
    if request.method == "POST":
        try:
            new = request.form.get("new_password", "")
            if new != request.form.get("confirm", ""):
                raise DocctlError("the two new passwords differ")
            person = user()
            instance().accounts.change_password(person.login, new, old_password=request.form.get("old_password", ""))
        except DocctlError as exc:
            error = exc.message
        else:
            # Every session of this person ends (a stolen cookie too); this browser gets a new one.
            instance().sessions.end_all(person.login, "password changed")
            start_session(instance().users.get(person.login))
            flash(_("Your password has been changed; your other sessions have ended."))
            return redirect(url_for("home.index"))
    return render_template("home/password.html", error=error), (422 if error else 200)


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def notifications():
    """Which e-mails a person receives, per kind: at once, in a daily digest, or none."""
    person = user()
    outbox = instance().outbox
    if request.method == "POST":
        chosen = {kind.name: request.form.get(kind.name, "") for kind in KINDS}
        bad = [k for k, mode in chosen.items() if mode not in MODES]
        if bad:
            raise Invalid("choose immediate, digest or none for %(kinds)s", kinds=", ".join(bad))
        outbox.set_preferences(person.login, chosen)
        flash(_("Your e-mail choices are saved."))
        return redirect(url_for("home.notifications"), 303)
    return render_template(
        "home/notifications.html",
        kinds=KINDS,
        modes=MODES,
        chosen=outbox.preferences(person.login, DEFAULTS),
        recent=outbox.messages(login=person.login, limit=20),
        mail_on=bool(instance().settings["SMTP_HOST"]),
    )


@bp.route("/healthz")
def healthz():
    """Each part's status; 503 while starting or when git or the database fails (ops/health.py)."""
    status, body = health(instance())
    return jsonify(body), status
