"""The import page (issue 13): quality managers upload .docx / .odt / .md files (and a mapping
CSV), see what each became and every guess, and open the drafts in one go."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, flash, render_template, request
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from ..adoption.conversion import SUFFIXES, plan_import, read_mapping
from ..adoption.recording import record_plans
from ..core.errors import Invalid
from .context import instance, require_role

bp = Blueprint("importing", __name__, url_prefix="/documents/import")


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("", methods=["GET", "POST"], endpoint="upload")
def upload():
    person = require_role("quality_manager")
    if request.method == "GET":
        return render_template("documents/import.html", results=None, dry_run=True)
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        raise Invalid("choose at least one .docx, .odt or .md file")
    dry_run = request.form.get("dry_run") == "1"
    workflow = instance().workflow
    with tempfile.TemporaryDirectory(prefix="docctl-upload-") as folder:
        mapping = None
        if request.files.get("mapping") and request.files["mapping"].filename:
            path = Path(folder) / "mapping.csv"
            request.files["mapping"].save(path)
            mapping = read_mapping(path)
        plans = []
        for index, storage in enumerate(files):
            name = _safe_name(storage.filename, index)
            path = Path(folder) / name
            storage.save(path)
            plans.append(plan_import(path, mapping=mapping, units=workflow.policy().units))
        if dry_run:
            results = [{**p.as_json(), "change": None, "import_error": None} for p in plans]
        else:
            results = [r.as_json() for r in record_plans(workflow, person, plans)]
    for result in results:
        result["file"] = Path(result["file"]).name
    if not dry_run:
        opened = sum(1 for r in results if r["change"])
        flash(_("%(n)s draft(s) opened from %(total)s file(s).", n=opened, total=len(results)))
    return render_template("documents/import.html", results=results, dry_run=dry_run)


def _safe_name(filename: str, index: int) -> str:
    """The uploaded name without any folder part (its ID may come from it: "P-05 Audyty.docx")."""
    base = Path(filename.replace("\\", "/")).name
    suffix = Path(base).suffix.lower()
    stem = secure_filename(Path(base).stem.replace(" ", "_")) or f"file-{index}"
    return f"{stem}{suffix if suffix in SUFFIXES else '.unknown'}"
