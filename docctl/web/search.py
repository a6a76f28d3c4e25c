"""The search page; the JSON twin lives in api.py. Both call :func:`run_search`."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..core.documents import TYPES
from ..core.errors import Invalid, Unavailable
from ..workflow import visible_numbers
from .context import can_read, instance, int_arg, person, reader, user
from .fragments import SameObject
from .pages import shared_page

bp = Blueprint("search", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


def run_search(args):
    """Parse the query string (q, scope, type, unit, page, obsolete) and search the index."""
    can_read()
    scope = args.get("scope", "current")
    if scope not in ("current", "all", "drafts"):
        raise Invalid("scope must be current, all or drafts")
    drafts: frozenset[int] = frozenset()
    if scope == "drafts":  # the drafts this person may see: their own, to sign, oversight (issue 15)
        drafts = visible_numbers(instance().workflow, user())
    doc_type = args.get("type") or None
    if doc_type and doc_type not in TYPES:
        raise Invalid("unknown type %(doc_type)s", doc_type=repr(doc_type))
    page = max(int_arg(args.get("page", 1), "page"), 1)
    who = person()
    login = who.login if who else None
    index = instance().search
    if scope == "all":
        index = instance().search_all
        if not index.exists():
            raise Unavailable("the index of all revisions is still being built; search the current revisions or retry")
    return index.search(
        args.get("q", "")[:500],
        at=instance().today(),
        scope=scope,
        include_obsolete=args.get("obsolete") == "1",
        doc_type=doc_type,
        unit=args.get("unit") or None,
        user=login,
        drafts=drafts,
        page=page,
        per_page=20,
        variants=instance().workflow.policy().variants,
    )


@bp.route("/search")
def page():
    results = run_search(request.args)
    # The index keeps each answer while it does not change, so the same answer gets the same
    # page, rendered once (templating 20 hits was ~1.2 ms of a 1.7 ms page; issue 12). The
    # policy (the units offered) goes with main's head.
    key = (SameObject(results), tuple(request.args.items(multi=True)), reader().register_key())
    return shared_page(
        "search_pages",
        key,
        256,
        lambda: render_template("search/results.html", results=results, args=request.args, types=TYPES),
    )
