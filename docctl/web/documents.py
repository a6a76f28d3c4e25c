"""Document pages: master list, current revision, past revisions, history, diff, print."""

from __future__ import annotations

from typing import NamedTuple

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from ..assets import asset_dir
from ..core.documents import TYPES, validate_document_id
from ..core.errors import Conflict, DocctlError, Invalid
from ..core.pdf import html_to_pdf
from ..reading import paged
from .context import can_read, date_arg, instance, int_arg, person, reader, require_role, user
from .csv_export import confirmation_rows, csv_response
from .fragments import fragment
from .pages import shared_page

bp = Blueprint("documents", __name__, url_prefix="/documents")


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("")
def master_list():
    can_read()
    doc_type = request.args.get("type") or None
    unit = request.args.get("unit") or None
    if doc_type and doc_type not in TYPES:
        raise Invalid("unknown type %(doc_type)s", doc_type=repr(doc_type))
    obsolete = request.args.get("obsolete") == "1"
    page = max(int_arg(request.args.get("page", 1), "page"), 1)
    as_of = _as_of()
    who = person()
    roles = who.roles if who else ()
    may = ("quality_manager" in roles, "author" in roles or "quality_manager" in roles)  # import, create
    return shared_page(
        "register_pages",
        (reader().register_key(as_of), doc_type, unit, obsolete, page, may),
        64,
        lambda: render_template(
            "documents/list.html",
            table=_register_table(doc_type, unit, obsolete, as_of, page),
            types=TYPES,
            doc_type=doc_type or "",
            unit=unit or "",
            obsolete=obsolete,
            as_of=as_of,
        ),
    )


def _as_of():
    """``?as_of=YYYY-MM-DD``: the register or a document as it stood that day (None: today)."""
    at = date_arg(request.args.get("as_of"), "as_of")
    return None if at == instance().today() else at


def _register_table(doc_type: str | None, unit: str | None, obsolete: bool, as_of, page: int) -> Markup:
    """One page of the register's table, per (main head, day, filters, page)."""

    def render():
        states = reader().master_list(as_of, doc_type=doc_type, unit=unit, include_obsolete=obsolete)
        filters = {
            "type": doc_type,
            "unit": unit,
            "obsolete": "1" if obsolete else None,
            "as_of": as_of.isoformat() if as_of else None,
        }
        return render_template("documents/register_table.html", paged=paged(states, page), filters=filters, as_of=as_of)

    return fragment("register_tables", (reader().register_key(as_of), doc_type, unit, obsolete, page), 64, render)


def _change_record(page) -> Markup:
    """The change record up to the shown revision, per (document, latest release, revision):
    the same for every reader until the next release (issue 18)."""
    rev = page.revision
    return fragment(
        "change_records",
        (rev.doc_id, page.state.latest.commit, rev.revision),
        512,
        lambda: render_template(
            "documents/change_record.html", record=reader().revisions(rev.doc_id), upto=rev.revision
        ),
    )


class _Parts(NamedTuple):
    top: Markup  # banner, pending-revision notice, title
    actions: Markup  # the links this reader may follow
    header: Markup  # the control header
    body: Markup  # contents, text, change record


def _parts(page, as_of) -> _Parts:
    """A document page's parts that read the same for every reader, once per (main head, day,
    document, revision, as-of day): only the actions and the read confirmation are per person."""
    key = (reader().register_key(), page.revision.doc_id, page.revision.revision, as_of)

    def part(name: str, **extra) -> Markup:
        return fragment(
            f"page_{name}", key, 512, lambda: render_template(f"documents/page_{name}.html", page=page, **extra)
        )

    may = _Actions.of(page)
    actions = fragment(
        "page_actions",
        (*key, may),
        512,
        lambda: render_template("documents/page_actions.html", page=page, may=may),
    )
    return _Parts(part("top", as_of=as_of), actions, part("header"), part("body", record=_change_record(page)))


class _Actions(NamedTuple):
    """What a reader may do from a document page: the part of the page that depends on who reads."""

    see_confirmations: bool
    revise: bool
    review: bool

    @classmethod
    def of(cls, page) -> _Actions:
        who = person()
        if not (who and page.is_current):
            return cls(False, False, False)
        roles = who.roles
        managing = "quality_manager" in roles
        return cls(
            see_confirmations=managing
            or "auditor" in roles
            or "admin" in roles
            or ("approver" in roles and page.revision.unit in who.units),
            revise=managing or "author" in roles,
            review=managing or "approver" in roles,
        )


@bp.route("/<doc_id>")
def show(doc_id: str):
    can_read()
    as_of = _as_of()
    page = reader().document(validate_document_id(doc_id), as_of)
    acknowledged = None
    who = person()
    if who and page.is_current and as_of is None:
        acknowledged = instance().acks.has(who.login, doc_id, page.revision.revision)
    return _document_page(page, as_of, acknowledged)


@bp.route("/<doc_id>/revisions/<number>")
def revision(doc_id: str, number: str):
    can_read()
    page = reader().revision(validate_document_id(doc_id), int_arg(number, "revision"))
    if page.is_current:  # the revision in force has one address, with its read confirmation
        return redirect(url_for("documents.show", doc_id=doc_id))
    return _document_page(page, None, None)


def _document_page(page, as_of, acknowledged: bool | None):
    """A revision's page, shared by the readers who may do the same with it (see pages.py)."""
    rev = page.revision
    return shared_page(
        "document_pages",
        (reader().register_key(), rev.doc_id, rev.revision, as_of, acknowledged, _Actions.of(page)),
        1024,
        lambda: render_template("documents/show.html", page=page, acknowledged=acknowledged, parts=_parts(page, as_of)),
    )


@bp.route("/<doc_id>/figures/<name>")
def figure(doc_id: str, name: str):
    """A figure shown in a document: named by its content, so browsers may keep it for good."""
    can_read()
    found = reader().figure(validate_document_id(doc_id), name, person())
    answer = Response(found.data, mimetype=found.media_type)
    if not found.is_image:  # a form or a scanned record: downloaded, never opened in the page
        answer.headers["Content-Disposition"] = f'attachment; filename="{doc_id}-{name}"'
    answer.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    answer.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return answer


@bp.route("/<doc_id>/history")
def history(doc_id: str):
    can_read()
    doc_id = validate_document_id(doc_id)

    def body():
        state, revisions = reader().history(doc_id)
        return render_template("documents/history_body.html", state=state, revisions=revisions)

    # Per (main head, day): reviews and withdrawals change the page as much as releases do.
    key = (reader().register_key(), doc_id)
    return shared_page(
        "history_pages",
        key,
        512,
        lambda: render_template("documents/history.html", doc_id=doc_id, body=fragment("histories", key, 512, body)),
    )


@bp.route("/<doc_id>/diff")
def diff(doc_id: str):
    can_read()
    doc_id = validate_document_id(doc_id)
    state, revisions = reader().history(doc_id)
    newest = revisions[0].revision
    to = int_arg(request.args.get("to", newest), "to")
    frm = int_arg(request.args.get("from", max(to - 1, 1)), "from")
    result = reader().diff(doc_id, frm, to)
    return render_template("documents/diff.html", state=state, revisions=revisions, diff=result)


@bp.route("/<doc_id>/print")
def print_view(doc_id: str):
    can_read()
    number = request.args.get("revision")
    page = (
        reader().revision(validate_document_id(doc_id), int_arg(number, "revision"))
        if number
        else reader().document(validate_document_id(doc_id))
    )
    return render_print(page, pdf=False)


def render_print(page, *, pdf: bool, copy=None) -> str:
    """The print view of a revision: for paper, for the PDF, or for a numbered controlled copy."""
    return render_template(
        "documents/print.html",
        page=page,
        printed_at=instance().clock(),
        record=_change_record(page),
        pdf=pdf,
        copy=copy,
    )


def pdf_response(html: str, name: str) -> Response:
    base = str(instance().settings["BASE_URL"]) or request.host_url
    data = html_to_pdf(
        html,
        static_dir=asset_dir("static"),
        static_prefix=url_for("static", filename=""),
        base_url=base,
        resolve=_figure_for_pdf,
    )
    return Response(data, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


def _figure_for_pdf(path: str) -> tuple[bytes, str] | None:
    """A figure the PDF shows, read as the page reads it (``/documents/<ID>/figures/<name>``)."""
    prefix = f"{request.script_root}/documents/"
    parts = path[len(prefix) :].split("/") if path.startswith(prefix) else []
    if len(parts) != 3 or parts[1] != "figures":
        return None
    who = person()
    try:
        found = reader().figure(validate_document_id(parts[0]), parts[2], who)
    except DocctlError:
        return None
    return found.data, found.media_type


@bp.route("/<doc_id>/revisions/<number>.pdf")
def revision_pdf(doc_id: str, number: str):
    """The print view of one revision as a PDF file, with the same banner, header and notice."""
    can_read()
    page = reader().revision(validate_document_id(doc_id), int_arg(number, "revision"))
    return pdf_response(render_print(page, pdf=True), f"{doc_id}-rev{page.revision.revision}.pdf")


@bp.route("/<doc_id>/acknowledgements")
def acknowledgements(doc_id: str):
    """Who has and has not confirmed the revision in force; ``?format=csv`` for the file."""
    unit = request.args.get("unit") or None
    report = reader().confirmations(user(), validate_document_id(doc_id), unit)
    if request.args.get("format") == "csv":
        return csv_response(f"{doc_id}-confirmations.csv", confirmation_rows([report]))
    return render_template("documents/acknowledgements.html", reports=[report], unit=unit, doc_id=doc_id)


@bp.route("/<doc_id>/acknowledge", methods=["POST"])
def acknowledge(doc_id: str):
    person = user()
    page = reader().document(validate_document_id(doc_id))
    if not page.is_current:
        raise Conflict("%(doc_id)s has no revision in force to confirm", doc_id=doc_id)
    instance().acks.record(person.login, doc_id, page.revision.revision)
    flash(_("Recorded: you have read %(doc)s revision %(n)s.", doc=doc_id, n=page.revision.revision))
    return redirect(url_for("documents.show", doc_id=doc_id))


@bp.route("/<doc_id>/review", methods=["GET", "POST"])
def review(doc_id: str):
    person = require_role("approver", "quality_manager")
    instance().workflow.ensure_may_review(person, validate_document_id(doc_id))
    page = reader().document(doc_id)
    error = None
    if request.method == "POST":
        try:
            instance().workflow.review(
                person, doc_id, password=request.form.get("password", ""), comment=request.form.get("comment", "")
            )
        except DocctlError as exc:
            error = exc
        else:
            flash(_("Periodic review of %(doc)s recorded.", doc=doc_id))
            return redirect(url_for("documents.show", doc_id=doc_id))
    return render_template("documents/review.html", page=page, error=error), (error.http_status if error else 200)


@bp.route("/<doc_id>/withdraw", methods=["GET", "POST"])
def withdraw(doc_id: str):
    person = require_role("author", "quality_manager")
    page = reader().document(validate_document_id(doc_id))
    error = None
    if request.method == "POST":
        try:
            change = instance().workflow.withdraw(person, doc_id, reason=request.form.get("reason", ""))
        except DocctlError as exc:
            error = exc
        else:
            flash(
                _(
                    "Withdrawal of %(doc)s opened as change %(n)s; it needs the same signatures as a release.",
                    doc=doc_id,
                    n=change.number,
                )
            )
            return redirect(url_for("changes.show", number=change.number))
    return render_template("documents/withdraw.html", page=page, error=error), (error.http_status if error else 200)
