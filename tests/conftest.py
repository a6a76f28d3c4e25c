"""Shared fixtures: every test gets its own instance (a real bare git repository in tmp_path),
with git identity and HOME pinned so nothing from the developer's machine leaks in."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import flask
import jinja2
import pytest

# The interface's default language is Polish (issue 16); the tests that read page text were
# written in English, so they run in English unless a test asks for Polish itself.
os.environ.setdefault("DOCCTL_LANGUAGE", "en")


from docctl.core.policy import parse_policy
from docctl.ops.instance import Instance


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The default run spreads test files over one worker process per core (``-n auto`` in
    setup.cfg: 11:47 -> 5:42 on 2 cores). Benchmarks and browser tests run in this process:
    benchmarks print their figures and must not share the machine with each other."""
    selected = config.getoption("markexpr", "") or ""
    if re.search(r"(?<!not )\b(benchmark|browser)\b", selected) and hasattr(config.option, "numprocesses"):
        config.option.numprocesses = 0
        config.option.dist = "no"


class _CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once per test session, not once per app: a server builds one app per
    process, the tests build hundreds (compiling the same templates took ~160 ms an app)."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])  # refused when the source changed

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()
_create_jinja_environment = flask.Flask.create_jinja_environment


def _with_compiled_templates(app):
    env = _create_jinja_environment(app)
    env.bytecode_cache = _COMPILED
    return env


flask.Flask.create_jinja_environment = _with_compiled_templates

POLICY = """
units:
  KS: {name: "Pełnomocnik ds. SZJ"}
  OR: {name: "Wydział Organizacyjny"}
  FN: {name: "Wydział Finansowy"}
types:
  policy: {name: Polityka, prefix: PL}
  procedure: {name: Procedura, prefix: P}
  instruction: {name: Instrukcja, prefix: IR}
  form: {name: Formularz, prefix: F}
  external: {name: Dokument zewnętrzny, prefix: DZ}
signatures:
  policy: [{role: approver, scope: unit, meaning: review}, {role: quality_manager, meaning: approval}]
  procedure: [{role: approver, scope: unit, meaning: review}, {role: quality_manager, meaning: approval}]
  instruction: [{role: approver, scope: unit, meaning: approval}]
  form: [{role: approver, scope: unit, meaning: approval}]
  external: [{role: quality_manager, meaning: approval}]
"""

PASSWORD = "correct-horse-battery"

PEOPLE = {
    # login: (roles, units)
    "admin": (["admin"], []),
    "reader": (["reader"], []),
    "author": (["author"], ["OR"]),
    "author2": (["author"], ["OR"]),
    "approver": (["approver"], ["OR"]),
    "approver_fn": (["approver"], ["FN"]),
    "qm": (["quality_manager"], []),
    "qm2": (["quality_manager", "author"], ["OR"]),
    "auditor": (["auditor"], []),
}


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Production scrypt cost (n=2**14) is deliberate; tests use a cheaper one (stored in each hash)."""
    import docctl.stores.keys
    import docctl.stores.people

    monkeypatch.setattr(docctl.stores.people, "_SCRYPT", {"n": 2**8, "r": 8, "p": 1})
    monkeypatch.setattr(docctl.stores.keys, "KDF", {"n": 2**8, "r": 8, "p": 1})


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path_factory, monkeypatch):
    """No global git config, no inherited GIT_* variables, a throwaway HOME."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    monkeypatch.delenv("DOCCTL_INSTANCE", raising=False)


@dataclass
class FakeClock:
    """Injected time: tests move it instead of sleeping."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now = self.now + timedelta(**delta)

    def set_day(self, day: date, hour: int = 10) -> None:
        self.now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def make_instance(root: Path, clock: FakeClock, overrides: dict | None = None) -> Instance:
    instance = Instance.create(
        root,
        admin_login="admin",
        admin_password=PASSWORD,
        admin_email="admin@um.example.pl",
        policy=parse_policy(POLICY),
        clock=clock,
        overrides=overrides,
    )
    for login, (roles, units) in PEOPLE.items():
        if login != "admin":
            instance.users.add(
                login,
                name=login.replace("_", " ").title(),
                email=f"{login}@um.example.pl",
                roles=roles,
                units=units,
                password=PASSWORD,
            )
    return instance


@pytest.fixture
def instance(tmp_path, clock) -> Instance:
    return make_instance(tmp_path / "instance", clock)


def copy_of(template: Path, tmp_path: Path, clock: FakeClock) -> Instance:
    """A test's own copy of an instance a module built once (history through the workflow costs
    seconds; a copy of its folder, milliseconds)."""
    assert clock.now == START, "templates are built at the clock's start"
    root = tmp_path / "instance"
    shutil.copytree(template, root)
    return Instance(root, clock=clock)


@pytest.fixture
def people(instance):
    return {login: instance.users.get(login) for login in PEOPLE}


DOC = """# Nadzór nad dokumentami

## 1. Cel
Procedura opisuje nadzór nad udokumentowanymi informacjami, zgodnie z P-02.

## 2. Zakres
Dotyczy wszystkich komórek urzędu.
"""


def release(
    instance,
    people,
    doc_id="P-01",
    text=DOC,
    *,
    title="Nadzór nad dokumentami",
    doc_type="procedure",
    unit="OR",
    reason="Wydanie pierwsze",
    author="author",
    signers=("approver", "qm"),
    effective_date=None,
):
    """Open, submit and sign a change through the real workflow; returns the released change."""
    wf = instance.workflow
    change = wf.create(
        people[author],
        doc_id=doc_id,
        markdown=text,
        reason=reason,
        title=title,
        doc_type=doc_type,
        unit=unit,
        effective_date=effective_date,
    )
    wf.submit(people[author], change.number)
    for signer in signers:
        change = wf.approve(people[signer], change.number, password=PASSWORD)
    return change


@pytest.fixture
def app(instance):
    from docctl.web import build_app

    return build_app(instance, {"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


class Auth:
    """Logs in through the real /login form, CSRF token included."""

    def __init__(self, client) -> None:
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        import re

        page = self.client.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, login: str, password: str = PASSWORD):
        return self.client.post("/login", data={"login": login, "password": password, "csrf_token": self.csrf()})

    def post(self, path: str, data: dict | None = None, *, token_from: str = "/documents", **kw):
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf(token_from)}, **kw)


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the session (see postgres_server.py); skipped with the
    reason where this machine has none."""
    from postgres_server import PostgresServer

    try:
        server = PostgresServer()
    except RuntimeError as why:
        pytest.skip(f"no PostgreSQL server can be started here: {why}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.new_database()
