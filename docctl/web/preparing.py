"""While this process prepares the instance (issue 31), every page and API call answers 503 with
``Retry-After`` and the builder's progress — at once, never a hung connection or a 500 — and
``/healthz``, ``/metrics`` and the static files answer as always."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import gettext as _

from ..ops.preparation import RETRY_AFTER
from .context import instance

ALWAYS = frozenset({"static", "home.healthz", "metrics.metrics"})


def init_app(app) -> None:
    @app.before_request
    def _until_prepared():
        inst = instance()
        if inst.preparation.ready.is_set() or request.endpoint in ALWAYS:
            return None
        progress = inst.preparation.progress()
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            body = {
                "error": {
                    "code": "unavailable",
                    "message": "the register is being prepared; try again in a moment",
                    "detail": {"preparing": progress},
                }
            }
            response = jsonify(body)
        else:
            names = {
                "databases": _("the databases"),
                "register": _("the register of documents"),
                "audit trail": _("the audit trail"),
                "changes": _("the changes"),
                "search": _("the search index"),
            }
            response = render_template(
                "preparing.html", progress=progress, step=names.get(progress.get("step"), ""), retry=RETRY_AFTER
            )
        return response, 503, {"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"}
