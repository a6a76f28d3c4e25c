"""Stand-ins for a reader's own values in a page shared by readers (see pages.py).

A page rendered for sharing carries a random mark in place of the reader's name, roles, CSRF
token and return address; each request puts its own values there. Kept apart from pages.py so
that whatever renders a value (the CSRF token in auth.py) can ask whether a shared page is being
shaped without importing the pages that ask it for the value.
"""

from __future__ import annotations

import re
import secrets

from flask import g
from markupsafe import Markup

_MARK = f"docctl{secrets.token_hex(8)}"  # random per process: no text contains it by chance
SLOTS = ("csrf", "name", "roles", "back")
STAND_IN = re.compile(f"{_MARK}({'|'.join(SLOTS)})")


def shaping() -> bool:
    """Whether a shared page is being rendered now (the reader's own values are stand-ins)."""
    return g.get("docctl_shaping", False)


def stand_in(slot: str) -> Markup:
    return Markup(_MARK + slot)  # noqa: S704 - letters and digits only
