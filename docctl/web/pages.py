"""Whole pages shared by every reader who would see the same page, each reader's own values
filled in per request.

Two readers with the same rights see a document page differ in four places only: the reader's
name and roles in the header, the CSRF token of the forms, and the address the language switch
returns to. Such a page is rendered once with stand-ins in those places and kept as UTF-8
pieces cut at the stand-ins; a request joins the pieces with its own values — no templating and
no encoding per request (issue 12: templating was ~0.8 ms of a 1.9 ms document page, encoding
~1.2 ms of the 2,000-row register).

Everything else a page shows must be in its key: the callers add what their content depends on
(``main``'s head, the document, the reader's possible actions...), :func:`shared_page` adds
what the frame depends on (signed in or not, the roles the navigation shows, the day, the
language, the address prefix).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import NamedTuple

from flask import Response, g, request, session
from markupsafe import Markup, escape

from . import chrome
from .context import instance, person
from .fragments import cached

_MARK = f"docctl{secrets.token_hex(8)}"  # random per process: no text contains it by chance
SLOTS = ("csrf", "name", "roles", "back")
_STAND_IN = re.compile(f"{_MARK}({'|'.join(SLOTS)})")


def init_app(app) -> None:
    app.jinja_env.globals.update(reader_name=reader_name, reader_roles=reader_roles, back_path=back_path)


def shaping() -> bool:
    """Whether a shared page is being rendered now (the reader's own values are stand-ins)."""
    return g.get("docctl_shaping", False)


def stand_in(slot: str) -> Markup:
    return Markup(_MARK + slot)  # noqa: S704 - letters and digits only


def reader_name() -> str:
    return stand_in("name") if shaping() else person().name


def reader_roles() -> str:
    return stand_in("roles") if shaping() else ", ".join(sorted(person().roles))


def back_path() -> str:
    """Where the language switch returns to: this page's path and query."""
    return stand_in("back") if shaping() else request.full_path.rstrip("?")


class _Shape(NamedTuple):
    pieces: tuple[bytes, ...]  # one more than slots: text, slot, text, ... text
    slots: tuple[str, ...]


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
    out = [shape.pieces[0]]
    for slot, piece in zip(shape.slots, shape.pieces[1:], strict=True):
        value = values.get(slot)
        if value is None:
            value = values[slot] = _value(slot)
        out += (value, piece)
    return Response(b"".join(out), mimetype="text/html")


def _shape(render: Callable[[], str]) -> _Shape:
    g.docctl_shaping = True
    try:
        html = render()
    finally:
        g.docctl_shaping = False
    parts = _STAND_IN.split(html)
    return _Shape(tuple(part.encode() for part in parts[0::2]), tuple(parts[1::2]))


def _value(slot: str) -> bytes:
    if slot == "csrf":
        from .auth import csrf_token

        return csrf_token().encode()
    if slot == "name":
        return str(escape(reader_name())).encode()
    if slot == "roles":
        return str(escape(reader_roles())).encode()
    return str(escape(back_path())).encode()
