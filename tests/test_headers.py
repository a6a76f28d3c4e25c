"""Security headers on every page and answer, including errors and static files (issue 15)."""

from __future__ import annotations

import re

import pytest
from conftest import release

from docctl.web.headers import HEADERS


@pytest.fixture
def served(instance, people):
    release(instance, people, "P-01")
    return instance


def _get_routes(app) -> list[str]:
    """Every GET route of the app, with sample values for its arguments."""
    samples = {"doc_id": "P-01", "number": "1", "filename": "docctl.css", "verb": "submit"}
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{name}>", samples.get(name, "1"), path)
        paths.append(path)
    return sorted(set(paths))


def test_every_get_route_sends_the_security_headers(served, app, client, auth):
    auth.login("qm")
    routes = _get_routes(app)
    assert "/audit" in routes and "/documents/P-01" in routes and "/static/docctl.css" in routes
    for path in [*routes, "/no/such/page", "/api/v1/documents/NOPE"]:
        response = client.get(path)
        response.close()  # static files are streamed from an open file
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (path, response.status_code, name)


def test_pages_have_no_inline_script_or_style(served, client, auth):
    """The strict policy holds only while templates carry no inline code (it would be blocked)."""
    auth.login("qm")
    for path in ("/", "/documents", "/documents/P-01", "/documents/P-01/print", "/audit", "/changes/new", "/login"):
        page = client.get(path).get_data(as_text=True)
        scripts = re.findall(r"<script[^>]*>", page)
        assert all(re.fullmatch(r'<script src="/static/[\w.]+\.js" defer>', tag) for tag in scripts), path
        assert not re.search(r"<script[^>]*>[^<]", page), path  # a script element with a body
        assert " style=" not in page and "<style" not in page, path
        assert not re.search(r"\son\w+=", page), path
