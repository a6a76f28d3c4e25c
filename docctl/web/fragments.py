"""Parts of pages that read the same for every reader while their key holds, rendered once.

Templating is most of a page's cost once the data is cached (issue 12); a fragment keyed by
everything it shows (``main``'s head, the day, the filters) is rendered once and reused by every
reader until the key changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from flask import current_app, request
from flask_babel import get_locale
from markupsafe import Markup

_FRAGMENTS_LOCK = threading.Lock()


def fragment(kind: str, key: tuple, keep: int, render: Callable[[], str]) -> Markup:
    """A part of a page that reads the same for every reader while its key holds, rendered
    once: the register's 2,000 rows cost ~150 ms of templating, a 20-revision history ~2 ms of a
    3 ms page (issue 12). ``key`` must name everything the fragment shows."""
    fragments: OrderedDict[tuple, Markup] = current_app.extensions.setdefault(f"docctl.{kind}", OrderedDict())
    key = (*key, request.script_root, str(get_locale()))  # one rendering per language
    with _FRAGMENTS_LOCK:
        html = fragments.get(key)
    if html is None:
        # Markup: the template's own output, already escaped by Jinja's autoescaping.
        html = Markup(render())  # noqa: S704 - our own autoescaped template output
        with _FRAGMENTS_LOCK:
            fragments[key] = html
            while len(fragments) > keep:
                fragments.popitem(last=False)
    return html
