"""Request-scoped access to the instance and the reader, and small request-parsing helpers."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date

from flask import current_app, g, request
from flask_login import current_user

from ..core.errors import Forbidden, Invalid, Unauthorized
from ..ops.instance import Instance
from ..reading import Reader
from ..workflow import require_visible


def init_app(app) -> None:
    @app.before_request
    def _one_view() -> None:
        """A reading request sees the repository as it was at its first look (one head of
        ``main`` for the whole page), read once instead of at every call (issue 12)."""
        if request.method in ("GET", "HEAD"):
            g.docctl_view = ExitStack()
            g.docctl_view.enter_context(instance().store.refs_read_once())

    @app.teardown_request
    def _end_view(_exc) -> None:
        view = g.pop("docctl_view", None)
        if view is not None:
            view.close()


def instance() -> Instance:
    return current_app.extensions["docctl"]


def reader() -> Reader:
    cached = current_app.extensions.get("docctl.reader")
    if cached is None or cached.link_prefix != request.script_root.rstrip("/"):
        cached = Reader(instance(), request.script_root)
        current_app.extensions["docctl.reader"] = cached
    return cached


def person():
    """The signed-in person of this request, or None. ``current_user`` is a proxy that looks the
    person up again on every attribute (~2 µs each, some 15 a page: issue 12); this is the
    person itself."""
    found = current_user._get_current_object()
    return found if found is not None and found.is_authenticated else None


def user():
    """The logged-in person; Unauthorized for anonymous requests."""
    found = person()
    if found is None:
        raise Unauthorized("log in first")
    return found


def require_role(*roles: str):
    person = user()
    if not set(roles) & set(person.roles):
        raise Forbidden("this needs one of the roles: %(value)s", value=", ".join(roles))
    return person


def can_read() -> None:
    if person() is None and not instance().settings["PUBLIC_READ"]:
        raise Unauthorized("log in to read documents")


def int_arg(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid("%(name)s must be a whole number", name=name) from None
    if number < 0:
        raise Invalid("%(name)s must not be negative", name=name)
    return number


def visible_change(number) -> int:
    """The change number of a route, for the logged-in person who may see that change: anyone
    else gets 404, as for a change that does not exist (issue 15). 401 comes first."""
    who = user()
    n = int_arg(number, "change number")
    require_visible(instance().workflow, n, who)
    return n


def date_arg(value, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise Invalid("%(name)s must be a date as YYYY-MM-DD", name=name) from None
