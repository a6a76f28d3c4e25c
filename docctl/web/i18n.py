"""The interface in Polish and English (issue 16): Flask-Babel with the message catalogs in
``docctl/translations`` (compiled when the package is built; in a source checkout, on first use).

The language is, in order: the person's own choice (remembered in ``users.sqlite3``), the
browser's cookie from the language switch (before logging in), the instance's ``LANGUAGE``.
API error messages stay English: scripts read codes, people read pages.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from flask import Blueprint, g, redirect, request, url_for
from flask_babel import Babel, format_date, format_datetime, get_locale, get_translations, gettext
from flask_babel import gettext as _

from ..translations import N_, TRANSLATIONS, compile_catalogs
from .context import instance, person


def instance_of(app):
    return app.extensions["docctl"]


LANGUAGES = {"pl": "polski", "en": "English"}
COOKIE = "docctl_lang"

bp = Blueprint("i18n", __name__)


def init_app(app) -> None:
    compile_catalogs()
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", str(instance_of(app).settings["TIMEZONE"]))
    Babel(app, locale_selector=language, default_translation_directories=str(TRANSLATIONS))
    # Flask-Babel's template gettext looks the catalog up on every call (~50 µs: a 2,000-row
    # register took 0.8 s to render); this one looks it up once per request.
    app.jinja_env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    app.jinja_env.globals["status_labels"] = STATUS_LABELS
    app.jinja_env.filters["day"] = _day
    app.jinja_env.filters["localized"] = localized
    app.jinja_env.filters["moment"] = _moment
    app.jinja_env.filters["trail_detail"] = trail_detail
    app.context_processor(lambda: {"languages": LANGUAGES, "language": str(get_locale() or "en")})
    app.register_blueprint(bp)


def _translations():
    found = g.get("docctl_translations")
    if found is None:
        found = g.docctl_translations = get_translations()
    return found


def _gettext(message: str) -> str:
    return _translations().ugettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _translations().ungettext(singular, plural, n)


def language() -> str:
    if request.path.startswith("/api/"):
        return "en"
    who = person()
    if who is not None:
        chosen = getattr(who, "language", None)  # read with the person, no query of its own
        if chosen in LANGUAGES:
            return chosen
    cookie = request.cookies.get(COOKIE)
    if cookie in LANGUAGES:
        return cookie
    default = str(instance().settings["LANGUAGE"])
    return default if default in LANGUAGES else "en"


@bp.post("/language")
def switch():
    """The language switch in the page footer: remembered for the person, and in the browser."""
    chosen = request.form.get("language", "")
    who = person()
    if chosen in LANGUAGES and who is not None:
        instance().users.set_language(who.login, chosen)
    back = request.form.get("next") or ""
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = url_for("home.index")
    answer = redirect(back, 303)
    if chosen in LANGUAGES:
        answer.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return answer


def localized(error) -> str:
    """A domain error's message in the reader's language: its template translated, then filled."""
    params = getattr(error, "params", None)
    if params:
        return gettext(error.template, **params)
    return gettext(getattr(error, "message", str(error)))


def _day(value: date | None, style: str = "long") -> str:
    """A day as people write it in their language: "1 czerwca 2026" in Polish; in English the
    ISO form (2026-06-01), unambiguous for auditors from anywhere."""
    if not value:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if str(get_locale()) == "en":
        return value.isoformat()
    return format_date(value, style)


def _moment(value: datetime | None) -> str:
    return format_datetime(value, "medium") if value else ""


# A document's or change's state as its badge says it (one translation per badge, not eight).
STATUS_LABELS = {
    "effective": N_("in force"),
    "obsolete": N_("OBSOLETE"),
    "approved": N_("approved, not yet in force"),
    "superseded": N_("SUPERSEDED"),
    "draft": N_("draft"),
    "in_review": N_("in review"),
    "released": N_("released"),
    "cancelled": N_("cancelled"),
}

# Words the templates translate from data (``_(rev.type)``): listed here so extraction finds them.
DATA_WORDS = (
    *(N_("policy"), N_("procedure"), N_("instruction"), N_("form"), N_("external")),
    *(N_("new"), N_("revise"), N_("withdraw")),
    *(N_("draft"), N_("in_review"), N_("released"), N_("cancelled")),
    *(N_("reader"), N_("author"), N_("approver"), N_("quality_manager"), N_("auditor"), N_("admin")),
    *(N_("review"), N_("approval")),
    *(N_("create"), N_("edit"), N_("update"), N_("submit"), N_("approve"), N_("reject"), N_("cancel"), N_("release")),
    *(N_("created"), N_("edited"), N_("updated"), N_("submitted"), N_("signed"), N_("rejected"), N_("voided")),
    *(N_("initialized"), N_("policy changed"), N_("withdrawn"), N_("reviewed"), N_("confirmed read")),
    *(N_("account changed"), N_("unrecorded commit"), N_("cancelled"), N_("signing keys changed")),
    *(N_("attestation"), N_("migrate"), N_("migrated"), N_("role"), N_("unit")),
    *(N_("immediate"), N_("digest"), N_("none"), N_("pending"), N_("sending"), N_("sent"), N_("failed")),
)


_SIGNED_AS = re.compile(r"^(\w+) as (\w+); content ([0-9a-f]+)$")
_SIGNERS = re.compile(r" — signed: (.*)$")
_SIGNER = re.compile(r"\((\w+), (\w+)\)")
_READ = re.compile(r"^read and understood revision (\d+)$")
_RIGHTS = re.compile(r"(?<![\w-])([+-]?)(role|unit) (\w+)")


def trail_detail(detail: str) -> str:
    """An audit-trail entry's details (stored in English, with the domain's codes) in the reader's
    language: signatures' meanings and roles, "signed:", read confirmations, rights granted."""
    found = _SIGNED_AS.match(detail)
    if found:
        meaning, role, content = found.groups()
        return _("%(meaning)s as %(role)s; content %(content)s", meaning=_(meaning), role=_(role), content=content)
    found = _READ.match(detail)
    if found:
        return _("read and understood revision %(n)s", n=found.group(1))
    found = _SIGNERS.search(detail)
    if found:
        signers = _SIGNER.sub(lambda m: f"({_(m.group(1))}, {_(m.group(2))})", found.group(1))
        return detail[: found.start()] + " — " + _("signed: %(signers)s", signers=signers)
    return _RIGHTS.sub(
        lambda m: f"{m.group(1)}{_(m.group(2))} {_(m.group(3)) if m.group(2) == 'role' else m.group(3)}", detail
    )
