"""The page frame — navigation and footer — rendered once per language, role set and day.

Every page carries it, and its ~20 translated labels and links cost more than the document
text itself once that is cached (issue 12: 3.3 ms a page, a third of it the frame). What
differs per person (name, CSRF token, the address to come back to) stays in ``base.html``.
"""

from __future__ import annotations

from flask import render_template, request
from markupsafe import Markup

from . import context
from .fragments import fragment

# The roles the navigation shows links for: a key of these, not of every role set, keeps the
# cache small.
_NAV_ROLES = ("auditor", "quality_manager", "admin")


def init_app(app) -> None:
    app.jinja_env.globals.update(chrome_nav=chrome_nav, chrome_footer=chrome_footer, chrome_switch=chrome_switch)


def chrome_nav():
    if request.endpoint == "search.page":  # its search box shows the query asked: not shared
        return Markup(render_template("chrome/nav.html"))  # noqa: S704 - our own autoescaped template output
    signed_in = context.person() is not None
    return fragment("chrome_nav", (signed_in, nav_roles()), 64, lambda: render_template("chrome/nav.html"))


def nav_roles() -> tuple[str, ...]:
    """The reader's roles that the navigation shows links for."""
    who = context.person()
    if who is None:
        return ()
    return tuple(role for role in _NAV_ROLES if role in who.roles)


def chrome_footer():
    today = context.instance().today()
    return fragment("chrome_footer", (today,), 16, lambda: render_template("chrome/footer.html"))


def chrome_switch():
    return fragment("chrome_switch", (), 4, lambda: render_template("chrome/switch.html"))
