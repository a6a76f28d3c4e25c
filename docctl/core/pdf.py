"""A revision as PDF (issue 16): the print view's HTML typeset by WeasyPrint on the server.

Offline by construction: the only URLs the typesetter may fetch are the package's own static
files (the stylesheets) and the document's own figures (``resolve``, read from git); anything
else a document might name — an image on the internet, a ``file:`` path — is refused, so a PDF
never waits on the network or reads the server's disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from .errors import Unavailable


def html_to_pdf(
    html: str,
    *,
    static_dir: Path,
    static_prefix: str = "/static/",
    base_url: str = "http://localhost/",
    resolve: Callable[[str], tuple[bytes, str] | None] | None = None,
) -> bytes:
    """Typeset ``html`` (a full page whose stylesheets live under ``static_prefix``); its links
    point at ``base_url`` (the address people use, so a link in the PDF opens the system)."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the system's Pango library is missing
        raise Unavailable(
            "PDF output needs WeasyPrint and the Pango library on the server (%(exc)s)", exc=exc
        ) from None
    static_dir = static_dir.resolve()

    def local(url: str) -> tuple[bytes, str]:
        path = urlsplit(url).path
        found = resolve(path) if resolve else None
        if found is not None:
            return found
        if not path.startswith(static_prefix):
            raise ValueError(f"not fetched (offline): {url}")
        target = (static_dir / path[len(static_prefix) :]).resolve()
        if static_dir not in target.parents or not target.is_file():
            raise ValueError(f"no such static file: {url}")
        return target.read_bytes(), _mime(target)

    return HTML(string=html, base_url=base_url, url_fetcher=_fetcher(local)).write_pdf()


def _fetcher(local):
    """WeasyPrint's fetcher interface: a ``URLFetcher`` subclass since version 67, a function
    returning a dict before."""
    from weasyprint import urls

    if hasattr(urls, "URLFetcherResponse"):

        class StaticOnly(urls.URLFetcher):
            def fetch(self, url, headers=None):
                body, mime = local(url)
                return urls.URLFetcherResponse(url, body=body, headers={"Content-Type": mime})

        return StaticOnly()

    def fetch(url):
        body, mime = local(url)
        return {"string": body, "mime_type": mime}

    return fetch


def _mime(path: Path) -> str:
    return {".css": "text/css", ".woff2": "font/woff2", ".png": "image/png", ".svg": "image/svg+xml"}.get(
        path.suffix, "application/octet-stream"
    )
