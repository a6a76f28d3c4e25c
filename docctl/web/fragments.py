"""Parts of pages that read the same for every reader while their key holds, rendered once.

Templating is most of a page's cost once the data is cached (issue 12); a fragment keyed by
everything it shows (``main``'s head, the day, the filters) is rendered once and reused by every
reader until the key changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request
from flask_babel import get_locale
from markupsafe import Markup

_FRAGMENTS_LOCK = threading.Lock()
T = TypeVar("T")


def fragment(kind: str, key: tuple, keep: int, render: Callable[[], str]) -> Markup:
    """A part of a page that reads the same for every reader while its key holds, rendered
    once: the register's 2,000 rows cost ~150 ms of templating, a 20-revision history ~2 ms of a
    3 ms page (issue 12). ``key`` must name everything the fragment shows."""

    def make() -> Markup:
        # Rendered as for any one reader, never with a shared page's stand-ins (see pages.py):
        # a fragment is reused by pages that fill in no stand-ins.
        shaping, g.docctl_shaping = g.get("docctl_shaping", False), False
        try:
            # Markup: the template's own output, already escaped by Jinja's autoescaping.
            return Markup(render())  # noqa: S704 - our own autoescaped template output
        finally:
            g.docctl_shaping = shaping

    return cached(kind, key, keep, make)


def cached(kind: str, key: tuple, keep: int, make: Callable[[], T]) -> T:
    """``make()``'s value kept per ``key`` (with the address prefix and the language added), the
    ``keep`` most recent per kind, in this process."""
    store: OrderedDict[tuple, T] = current_app.extensions.setdefault(f"docctl.{kind}", OrderedDict())
    key = (*key, request.script_root, str(get_locale()))  # one rendering per language
    with _FRAGMENTS_LOCK:
        value = store.get(key)
    if value is None:
        value = make()
        with _FRAGMENTS_LOCK:
            store[key] = value
            while len(store) > keep:
                store.popitem(last=False)
    return value


class SameObject:
    """A key part that matches one object only (by identity, never by value); it holds the
    object, so no other object can take its id while the key is kept."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other) -> bool:
        return isinstance(other, SameObject) and other.obj is self.obj
