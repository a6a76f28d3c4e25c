"""Issue 15, item 2: the authorization matrix, request by request.

Every (method, rule) of the app's URL map must have a row in ``authorization_matrix.ROWS`` (a new
route without one fails here); every row is requested as every persona — pages through the login
session and the real CSRF token, the API with each persona's bearer token — and must answer what
the row says. Writes run on a fresh copy of the fixture instance, so each is judged alone.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from authorization_matrix import PERSONAS, ROWS, markdown_table
from conftest import DOC, PASSWORD, FakeClock, make_instance, release
from office_files import tiny_png

from docctl.core.figures import figure_from_bytes
from docctl.ops.instance import Instance
from docctl.web import build_app

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """P-01 released twice; a draft revision of it and a new instruction in review, by `author`."""
    from datetime import UTC, datetime

    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    root = tmp_path_factory.mktemp("matrix") / "instance"
    instance = make_instance(root, clock)
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    release(instance, people, text=DOC + "\nDrugie wydanie.\n", reason="Drugie")
    wf = instance.workflow
    draft = wf.create(people["author"], doc_id="P-01", markdown=DOC + "\nSzkic.\n", reason="Szkic")
    figure = figure_from_bytes(tiny_png())
    review = wf.create(
        people["author"],
        doc_id="IR-01",
        markdown=f"# Instrukcja\n\nTekst.\n\n![Schemat](IR-01/{figure.name})\n",
        reason="Nowa",
        title="Instrukcja",
        doc_type="instruction",
        unit="OR",
        figures=[figure],
    )
    wf.submit(people["author"], review.number)
    instance.copies.issue(people["qm"], "P-01", holder_unit="FN", units=instance.workflow.policy().units)
    tokens = {login: instance.users.create_token(login) for login in people}
    return {
        "root": root,
        "clock": clock,
        "tokens": tokens,
        "fill": {"draft": draft.number, "review": review.number, "draft_head": draft.head, "figure": figure.name},
    }


def _fill(value, fill):
    if isinstance(value, str):
        return PASSWORD if value == "*" else value.format(**fill)
    if isinstance(value, list):
        return [_fill(v, fill) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, fill) for k, v in value.items()}
    return value


class Visitor:
    """One persona on one app: a logged-in test client (or anonymous) and its bearer token."""

    def __init__(self, root: Path, clock, persona: str, token: str | None) -> None:
        instance = Instance(root, clock=clock)
        self.client = build_app(instance, {"TESTING": True}).test_client()
        self.persona, self.token = persona, token
        if persona != "anonymous":
            answer = self.client.post("/login", data={"login": persona, "password": PASSWORD, **self._csrf()})
            assert answer.status_code == 302, f"{persona} could not log in"

    def _csrf(self) -> dict:
        page = self.client.get("/login").get_data(as_text=True)
        return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)}

    def request(self, method: str, path: str, body: dict | None):
        if path.startswith("/api/"):
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            return self.client.open(path, method=method, json=body if method != "GET" else None, headers=headers)
        data = {**(body or {}), **self._csrf()} if method != "GET" else None
        return self.client.open(path, method=method, data=data)


def outcome(answer) -> str:
    if answer.status_code in (301, 302, 303) and answer.headers["Location"].startswith("/login?next="):
        return "401"  # the login form, to come back here (a page's way of saying 401)
    if answer.status_code < 400 or answer.status_code in (409, 422):
        return "ok"  # authorization passed; a 409/422 is about the request itself
    return str(answer.status_code)


def test_every_route_has_a_row(app):
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    rows = {(row.method, row.rule) for row in ROWS}
    assert not routes - rows, f"routes without a row in the authorization matrix: {sorted(routes - rows)}"
    assert not rows - routes, f"rows for routes that do not exist: {sorted(rows - routes)}"


def test_the_readme_shows_the_same_matrix():
    assert markdown_table() in README


@pytest.fixture(scope="module")
def readers(template):
    """One logged-in visitor per persona for the reading rows (a read changes nothing)."""
    return {p: Visitor(template["root"], template["clock"], p, template["tokens"].get(p)) for p in PERSONAS}


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.method} {r.rule}")
def test_the_matrix(row, template, readers, tmp_path):
    got, want = {}, {}
    for number, case in enumerate(row.cases):
        path = case.path.format(**template["fill"])
        body = _fill(case.body, template["fill"]) if case.body is not None else None
        for persona in PERSONAS:
            if row.method == "GET" and row.rule != "/logout":
                visitor = readers[persona]
            else:  # a write (or a logout) is judged on its own copy of the fixture
                root = tmp_path / f"{number}-{persona}"
                shutil.copytree(template["root"], root)
                visitor = Visitor(root, template["clock"], persona, template["tokens"].get(persona))
            answer = visitor.request(row.method, path, body)
            got[(path, persona)] = outcome(answer)
            answer.close()  # static files and streamed exports hold a file open until closed
            want[(path, persona)] = row.expected[persona]
    wrong = {k: f"got {got[k]}, expected {want[k]}" for k in got if got[k] != want[k]}
    assert not wrong, wrong


PAGE_WRITES = [r for r in ROWS if r.method == "POST" and not r.rule.startswith("/api/") and r.rule != "/logout"]


@pytest.mark.parametrize("row", PAGE_WRITES, ids=lambda r: r.rule)
def test_every_form_refuses_a_post_without_its_csrf_token(row, template, tmp_path):
    """As a persona the matrix allows, so nothing but the missing token can refuse it."""
    persona = next(p for p in PERSONAS if row.expected[p] == "ok" and p != "anonymous")
    root = tmp_path / "copy"
    shutil.copytree(template["root"], root)
    visitor = Visitor(root, template["clock"], persona, None)
    case = row.cases[0]
    body = _fill(case.body, template["fill"]) if case.body is not None else {}
    answer = visitor.client.post(case.path.format(**template["fill"]), data=body)
    assert answer.status_code == 400 and "security token" in answer.get_data(as_text=True)
    answer.close()


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "http:/evil.example"],
)
def test_next_goes_only_to_a_local_path(template, target):
    visitor = Visitor(template["root"], template["clock"], "anonymous", None)
    answer = visitor.client.post(
        f"/login?next={target}", data={"login": "reader", "password": PASSWORD, **visitor._csrf()}
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_next_keeps_a_local_path(template):
    visitor = Visitor(template["root"], template["clock"], "anonymous", None)
    answer = visitor.client.post(
        "/login?next=/documents/P-01", data={"login": "reader", "password": PASSWORD, **visitor._csrf()}
    )
    assert answer.headers["Location"] == "/documents/P-01"
