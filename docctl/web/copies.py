"""Controlled copies on the web (issue 16): a document's register of numbered copies, issuing and
marking returned, each copy's printout and PDF, and the copies to withdraw. Logic: docctl/copies.py."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..audit.copies import may_manage_copies
from ..audit.readership import may_see_confirmations
from ..core.documents import validate_document_id
from ..core.errors import DocctlError, Forbidden
from .context import instance, int_arg, reader, user
from .documents import pdf_response, render_print

bp = Blueprint("copies", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


def _visible(doc_id: str):
    """The document's state, for a person who may see its copies (as its read confirmations)."""
    person = user()
    state = instance().catalog.document(validate_document_id(doc_id), instance().today())
    if not may_see_confirmations(person, state.shown.unit):
        raise Forbidden(
            "controlled copies of %(doc_id)s are for quality managers, auditors and approvers of its unit",
            doc_id=doc_id,
        )
    return person, state


@bp.route("/documents/<doc_id>/copies", methods=["GET", "POST"])
def register(doc_id: str):
    person, state = _visible(doc_id)
    error = None
    people = {p.login: p for p in instance().users.list() if p.active}
    if request.method == "POST":
        target = request.form.get("holder", "")
        kind, _sep, value = target.partition(":")
        try:
            copy = instance().copies.issue(
                person,
                doc_id,
                holder_unit=value if kind == "unit" else None,
                holder_login=value if kind == "person" else None,
                holder_name=people[value].name if kind == "person" and value in people else None,
                units=instance().workflow.policy().units,
            )
        except DocctlError as exc:
            error = exc
        else:
            flash(_("Controlled copy no. %(n)s issued to %(holder)s.", n=copy.number, holder=copy.holder))
            return redirect(url_for("copies.register", doc_id=doc_id))
    due = {(c.doc_id, c.number): why for c, why in instance().copies.to_withdraw(instance().today())}
    return render_template(
        "documents/copies.html",
        state=state,
        copies=instance().copies.of(doc_id),
        due=due,
        may_manage=may_manage_copies(person, state.shown.unit),
        people=list(people.values()),
        error=error,
    ), (error.http_status if error else 200)


@bp.post("/documents/<doc_id>/copies/<number>/returned")
def returned(doc_id: str, number: str):
    person, _state = _visible(doc_id)
    copy = instance().copies.mark_returned(person, doc_id, int_arg(number, "copy number"))
    flash(_("Copy no. %(n)s marked returned.", n=copy.number))
    return redirect(request.form.get("next") or url_for("copies.register", doc_id=doc_id), 303)


def _copy_page(doc_id: str, number: str):
    _visible(doc_id)
    copy = instance().copies.get(doc_id, int_arg(number, "copy number"))
    return copy, reader().revision(doc_id, copy.revision)


@bp.get("/documents/<doc_id>/copies/<number>/print")
def print_copy(doc_id: str, number: str):
    copy, page = _copy_page(doc_id, number)
    return render_print(page, pdf=False, copy=copy)


@bp.get("/documents/<doc_id>/copies/<number>.pdf")
def copy_pdf(doc_id: str, number: str):
    copy, page = _copy_page(doc_id, number)
    return pdf_response(render_print(page, pdf=True, copy=copy), f"{doc_id}-copy{copy.number}.pdf")


@bp.get("/copies")
def to_withdraw():
    """Copies still held of revisions no longer in force, until marked returned."""
    person = user()
    if not ({"quality_manager", "auditor", "admin"} & set(person.roles) or "approver" in person.roles):
        raise Forbidden("the copies to withdraw are for quality managers, auditors, admins and approvers")
    due = instance().copies.to_withdraw(instance().today(), person)
    return render_template("copies/withdraw.html", due=due)
