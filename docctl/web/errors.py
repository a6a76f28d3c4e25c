"""The one place domain errors become HTTP: JSON under /api, an error page elsewhere."""

from __future__ import annotations

from flask import jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..core.errors import DocctlError
from .i18n import localized

_CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "throttled",
    503: "unavailable",
}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _respond(status: int, code: str, message: str, detail: dict | None = None, page_message: str | None = None):
    if _wants_json():
        body = {"error": {"code": code, "message": message}}
        if detail:
            body["error"]["detail"] = detail
        return jsonify(body), status
    if status == 401 and request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    # Pages speak the person's language (the core's messages are translated templates), the API
    # always English.
    shown = page_message or _(message)
    return render_template("error.html", status=status, code=code, message=shown, detail=detail or {}), status


def init_app(app) -> None:
    @app.errorhandler(DocctlError)
    def _domain(exc: DocctlError):
        headers_status = exc.http_status
        return _respond(headers_status, exc.code, exc.message, exc.detail, page_message=localized(exc))

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        if not current_user.is_authenticated and request.endpoint not in ("auth.login", "i18n.switch"):
            # a form posted after the session ended: the token went with it
            return _respond(401, "unauthorized", _("Your session has ended: log in again."))
        return _respond(400, "csrf", _("The form was missing its security token or it expired; reload the page."))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        message = {413: "the request is too large"}.get(status, exc.description or exc.name)
        response = _respond(status, _CODES.get(status, "error"), message)
        allowed = getattr(exc, "valid_methods", None)
        if status == 405 and allowed:  # RFC 9110: a 405 lists the methods that are allowed
            response = make_response(response)
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
