"""Change pages: list, new, the change itself (diff, signatures, events), editor, sign/reject."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..core.changes import STATES
from ..core.documents import split_front_matter
from ..core.errors import DocctlError, Invalid, MergeConflict
from ..core.figures import MAX_FIGURE_BYTES, figure_from_bytes
from .context import date_arg, instance, int_arg, reader, require_role, user, visible_change
from .i18n import localized

bp = Blueprint("changes", __name__, url_prefix="/changes")


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("")
def index():
    user()
    state = request.args.get("state") or None
    if state and state not in STATES:
        raise Invalid("unknown state %(state)s", state=repr(state))
    page = max(int_arg(request.args.get("page", 1), "page"), 1)
    changes, more = reader().changes_page(user(), state, page)
    return render_template("changes/list.html", changes=changes, state=state or "", states=STATES, page=page, more=more)


@bp.route("/new", methods=["GET", "POST"])
def new():
    person = require_role("author", "quality_manager")
    workflow = instance().workflow
    form = {
        "document_id": request.values.get("document_id", ""),
        "title": "",
        "type": "procedure",
        "unit": "",
        "reason": "",
        "markdown": "",
        "effective_date": "",
        "review_months": "12",
    }
    if request.method == "GET" and form["document_id"]:
        page = reader().document(form["document_id"])
        form.update(
            title=page.revision.title,
            type=page.revision.type,
            unit=page.revision.unit,
            markdown=_body_of(page.markdown),
        )
    error = None
    if request.method == "POST":
        form.update({k: request.form.get(k, "") for k in form})
        try:
            change = workflow.create(
                person,
                doc_id=form["document_id"].strip() or None,
                markdown=form["markdown"],
                reason=form["reason"],
                title=form["title"] or None,
                doc_type=form["type"] or None,
                unit=form["unit"] or None,
                review_months=int_arg(form["review_months"] or 12, "review_months"),
                effective_date=date_arg(form["effective_date"], "effective_date"),
            )
        except DocctlError as exc:
            error = exc
        else:
            flash(_("Change %(n)s opened as a draft.", n=change.number))
            return redirect(url_for("changes.show", number=change.number))
    return render_template("changes/new.html", form=form, error=error), (error.http_status if error else 200)


@bp.route("/<number>")
def show(number: str):
    return _change_page(visible_change(number))


def _change_page(number: int, status: int = 200):
    page = reader().change_page(number, user())
    return render_template("changes/show.html", page=page, change=page.change), status


def _refused(number: int, exc: DocctlError):
    """A step that failed: the change page again, with why, under the error's own status."""
    flash(localized(exc), "error")
    return _change_page(number, exc.http_status)


@bp.route("/<number>/edit", methods=["GET", "POST"])
def edit(number: str):
    person = user()
    workflow = instance().workflow
    change = workflow.get(visible_change(number))
    workflow.ensure_may_edit(person, change)
    text = workflow.content(change)
    meta = workflow.meta_of(change)
    form = {"title": meta.title, "markdown": _body_of(text), "reason": change.reason, "head": change.head}
    form["onto_revision"] = ""
    error = preview = None
    status = 200
    if request.method == "POST":
        form.update({k: request.form.get(k, "") for k in form})
        action = request.form.get("action")
        if action == "preview":
            preview = reader().render_text(form["markdown"])
        else:
            try:
                figures = [_uploaded_figure()] if action == "figure" else []
                _save(person, change.number, form, figures)
            except DocctlError as exc:
                error, status = exc, exc.http_status
            else:
                if figures:  # back to the editor, with what to write where the picture goes
                    mark = "!" if figures[0].is_image else ""  # a picture is shown, a file linked
                    snippet = f"{mark}[{_('description')}]({change.doc_id}/{figures[0].name})"
                    flash(_("Draft saved with the figure. Show it in the text with: %(snippet)s", snippet=snippet))
                    return redirect(url_for("changes.edit", number=change.number), 303)
                flash(_("Draft saved."))
                return redirect(url_for("changes.show", number=change.number))
    return _editor(change, form, error, preview, status)


def _uploaded_figure():
    """The editor's image upload, checked (type by content, size) before anything is written."""
    upload = request.files.get("figure")
    if not upload or not upload.filename:
        raise Invalid("choose an image file")
    return figure_from_bytes(upload.read(MAX_FIGURE_BYTES + 1), Path(upload.filename.replace("\\", "/")).name)


def _save(person, number: int, form: dict, figures=()) -> None:
    """Save the editor: a plain edit, or the resolution of an update's conflict (issue 17)."""
    workflow = instance().workflow
    if form["onto_revision"]:
        workflow.update_to_current(
            person,
            number,
            resolved_markdown=form["markdown"],
            expected_head=form["head"],
            onto_revision=int_arg(form["onto_revision"], "onto_revision"),
        )
    else:
        workflow.edit(
            person,
            number,
            markdown=form["markdown"],
            expected_head=form["head"],
            reason=form["reason"] or None,
            title=form["title"] or None,
            figures=figures,
        )


def _editor(change, form: dict, error, preview, status: int):
    figures = instance().workflow.figures_of(change)
    return render_template(
        "changes/edit.html", change=change, form=form, error=error, preview=preview, figures=figures
    ), status


@bp.route("/<number>/preview", methods=["POST"])
def live_preview(number: str):
    """The editor's live preview (issue 32): the text being typed, rendered by the same renderer
    as the document page, as an HTML fragment (sanitized like every rendered document)."""
    person = user()
    n = visible_change(number)
    workflow = instance().workflow
    workflow.ensure_may_edit(person, workflow.get(n))
    text = request.form.get("markdown", "")
    limit = int(instance().settings["MAX_DOCUMENT_BYTES"])
    if len(text.encode("utf-8")) > limit:
        raise Invalid("the document is larger than %(max_document_bytes)s bytes", max_document_bytes=limit)
    body = text
    if text.lstrip().startswith("---"):
        try:
            body = split_front_matter(text.lstrip())[1]
        except DocctlError:
            body = text
    return (
        reader().render_text(body).html,
        200,
        {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )


@bp.route("/<number>/docx", methods=["POST"])
def upload_docx(number: str):
    """The change page's "Upload from Word": the edited .docx saved as the draft (issue 32)."""
    from ..adoption.word import docx_to_change

    person = user()
    n = visible_change(number)
    workflow = instance().workflow
    workflow.ensure_may_edit(person, workflow.get(n))  # 403 for who may not edit, whatever was sent
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose the Word file to upload."), "error")
        return redirect(url_for("changes.show", number=n), 303)
    try:
        back = docx_to_change(workflow, person, n, upload.read(), request.form.get("head", ""))[1]
    except DocctlError as exc:
        flash(localized(exc), "error")
        return redirect(url_for("changes.show", number=n), 303)
    flash(_("Saved from Word: %(n)s paragraphs changed.", n=back.changed_paragraphs))
    return redirect(url_for("changes.show", number=n), 303)


@bp.route("/<number>/update", methods=["POST"])
def do_update(number: str):
    """Update onto the current revision; a real conflict opens the editor with both sides marked."""
    person = user()
    workflow = instance().workflow
    n = visible_change(number)
    try:
        change = workflow.update_to_current(person, n)
    except MergeConflict as exc:
        change = workflow.get(n)
        form = {
            "title": workflow.meta_of(change).title,
            "markdown": exc.detail["markdown"],
            "reason": change.reason,
            "head": exc.detail["head"],
            "onto_revision": str(exc.detail["onto_revision"]),
        }
        return _editor(change, form, exc, None, 409)
    except DocctlError as exc:
        return _refused(n, exc)
    flash(_("Change updated onto revision %(n)s.", n=change.base_revision))
    return redirect(url_for("changes.show", number=n))


def _action(number: str, verb: str):
    person = user()
    workflow = instance().workflow
    n = visible_change(number)
    try:
        if verb == "submit":
            workflow.submit(person, n)
            flash(_("Submitted for review."))
        elif verb == "cancel":
            workflow.cancel(person, n, request.form.get("comment", ""))
            flash(_("Change cancelled."))
        elif verb == "approve":
            change = workflow.approve(
                person,
                n,
                password=request.form.get("password", ""),
                comment=request.form.get("comment", ""),
                meaning=request.form.get("meaning") or None,
            )
            flash(_("Released.") if change.state == "released" else _("Your signature is recorded."))
        elif verb == "reject":
            workflow.reject(
                person, n, password=request.form.get("password", ""), comment=request.form.get("comment", "")
            )
            flash(_("Change sent back to its author."))
    except DocctlError as exc:
        return _refused(n, exc)
    return redirect(url_for("changes.show", number=n))


for _verb in ("submit", "cancel", "approve", "reject"):
    bp.add_url_rule(
        f"/<number>/{_verb}", f"do_{_verb}", (lambda v: lambda number: _action(number, v))(_verb), methods=["POST"]
    )


def _body_of(text: str) -> str:
    from ..core.documents import split_front_matter

    try:
        return split_front_matter(text)[1].lstrip("\n")
    except DocctlError:
        return text
