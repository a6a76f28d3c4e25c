"""Whole pages shared by every reader who would see the same page, each reader's own values
filled in per request.

Two readers with the same rights see a document page differ in four places only: the reader's
name and roles in the header, the CSRF token of the forms, and the address the language switch
returns to. Such a page is rendered once with stand-ins in those places and kept as UTF-8
pieces cut at the stand-ins; a request joins the pieces with its own values — no templating and
no encoding per request (issue 12: templating was ~0.8 ms of a 1.9 ms document page, encoding
~1.2 ms of the 2,000-row register). A browser that takes gzip gets the pieces as compressed once,
its own values stored between them (gzip_parts.py): no compression per request either.

Everything else a page shows must be in its key: the callers add what their content depends on
(``main``'s head, the document, the reader's possible actions...), :func:`shared_page` adds
what the frame depends on (signed in or not, the roles the navigation shows, the day, the
language, the address prefix).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, g, request, session
from markupsafe import escape

from . import chrome
from .auth import csrf_token
from .context import instance, person
from .fragments import cached
from .gzip_parts import Part, accepts_gzip, part, stitch
from .stand_ins import STAND_IN, shaping, stand_in


def init_app(app) -> None:
    app.jinja_env.globals.update(reader_name=reader_name, reader_roles=reader_roles, back_path=back_path)


def reader_name() -> str:
    return stand_in("name") if shaping() else person().name


def reader_roles() -> str:
    return stand_in("roles") if shaping() else ", ".join(sorted(person().roles))


def back_path() -> str:
    """Where the language switch returns to: this page's path and query."""
    return stand_in("back") if shaping() else request.full_path.rstrip("?")


class _Shape:
    """A page cut at its stand-ins: the text between them, and which slot each stand-in is."""

    def __init__(self, pieces: tuple[bytes, ...], slots: tuple[str, ...]) -> None:
        self.pieces = pieces  # one more than slots: text, slot, text, ... text
        self.slots = slots
        self._compressed: tuple[Part, ...] | None = None

    def compressed(self) -> tuple[Part, ...]:
        """The pieces compressed, on the first request that accepts gzip (two threads may
        both compress them: the same result)."""
        if self._compressed is None:
            self._compressed = tuple(part(piece) for piece in self.pieces)
        return self._compressed


def shared_page(kind: str, key: tuple, keep: int, render: Callable[[], str]) -> Response | str:
    """The page ``render`` makes, rendered once per ``key`` (plus the frame's key) and filled
    in with this request's reader. A request with flashed messages renders its own page: the
    messages are read once."""
    if session.get("_flashes"):
        return render()
    signed_in = person() is not None
    frame = (signed_in, chrome.nav_roles(), instance().today())
    shape = cached(kind, (*key, *frame), keep, lambda: _shape(render))
    values: dict[str, bytes] = {}
    gzipped = accepts_gzip(request.headers.get("Accept-Encoding"))
    pieces = shape.compressed() if gzipped else shape.pieces
    out = [pieces[0]]
    for slot, piece in zip(shape.slots, pieces[1:], strict=True):
        value = values.get(slot)
        if value is None:
            value = values[slot] = _value(slot)
        out += (value, piece)
    # Compressed: the pieces as compressed once, the reader's values stored as they are (see
    # gzip_parts.py); the 2,000-row register goes out as 20 KB instead of 658 KB.
    answer = Response(stitch(out) if gzipped else b"".join(out), mimetype="text/html")
    if gzipped:
        answer.headers["Content-Encoding"] = "gzip"
    answer.vary.add("Accept-Encoding")
    return answer


def _shape(render: Callable[[], str]) -> _Shape:
    g.docctl_shaping = True
    try:
        html = render()
    finally:
        g.docctl_shaping = False
    parts = STAND_IN.split(html)
    return _Shape(tuple(part.encode() for part in parts[0::2]), tuple(parts[1::2]))


def _value(slot: str) -> bytes:
    if slot == "csrf":
        return csrf_token().encode()
    if slot == "name":
        return str(escape(reader_name())).encode()
    if slot == "roles":
        return str(escape(reader_roles())).encode()
    return str(escape(back_path())).encode()
