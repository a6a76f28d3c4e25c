"""The web edge: blueprints over the core. Views parse the request, call one core function,
render. This package never imports git, subprocess or whoosh (a test enforces it)."""

from __future__ import annotations

from flask import Flask
from jinja2 import StrictUndefined
from werkzeug.middleware.proxy_fix import ProxyFix

from ..assets import asset_dir
from ..ops.instance import Instance
from . import (
    admin,
    api,
    audit,
    auth,
    changes,
    chrome,
    context,
    copies,
    documents,
    errors,
    headers,
    home,
    i18n,
    importing,
    metrics,
    pages,
    preparing,
    search,
)
from .session_cookie import VerifiedCookieSessions


def build_app(instance: Instance, test_config: dict, *, background: bool = False) -> Flask:
    app = Flask("docctl", template_folder=str(asset_dir("templates")), static_folder=str(asset_dir("static")))
    app.jinja_env.undefined = StrictUndefined
    app.session_interface = VerifiedCookieSessions()
    app.config.update(
        SECRET_KEY=instance.secret_key,
        MAX_CONTENT_LENGTH=int(instance.settings["MAX_CONTENT_LENGTH"]),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(instance.settings["SESSION_COOKIE_SECURE"]),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in auth.before_request, skipped for bearer tokens
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
        SEND_FILE_MAX_AGE_DEFAULT=3600,  # static files: cached an hour by browsers
    )
    app.config.update({k: v for k, v in test_config.items() if k.isupper()})
    hops = int(instance.settings["PROXY_HOPS"])
    if hops:  # behind a reverse proxy: the client's address and scheme come from its headers
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.extensions["docctl"] = instance
    if background:
        instance.prepare()  # a server answers at once; pages wait for this process (issue 31)
    else:
        instance.start()
    for module in (
        context,
        headers,
        metrics,
        preparing,
        auth,
        i18n,
        chrome,
        pages,
        errors,
        home,
        importing,
        documents,
        copies,
        changes,
        search,
        audit,
        admin,
        api,
    ):
        module.init_app(app)
    return app
