"""Security headers on every answer (issue 15, item 4).

docctl's pages carry no inline script or style (everything is in ``static/``), so the policy can
be strict: only this origin's scripts, styles, images and forms; no plugins; never inside a frame.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def init_app(app) -> None:
    @app.after_request
    def _secure(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
