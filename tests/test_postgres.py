"""People, tokens, sessions, confirmations and the outbox in a real PostgreSQL server (issue 14):
the stores behave as on SQLite, migrations are versioned, ``db copy`` moves an embedded instance,
and two nodes on one remote and one database are one system to the people using them."""

from __future__ import annotations

import re
import subprocess
import threading
from datetime import timedelta

import psycopg
import pytest
from click.testing import CliRunner
from conftest import PASSWORD, make_instance, release

from docctl.cli import main as cli
from docctl.core.errors import Conflict, Throttled, Unauthorized
from docctl.ops.instance import Instance
from docctl.stores.confirmations import AckStore
from docctl.stores.database import PostgresDatabase, Schema, SqliteDatabase
from docctl.stores.outbox import Message, Outbox
from docctl.stores.people import UserStore
from docctl.stores.sessions import SessionStore
from docctl.web import build_app


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        return SqliteDatabase(tmp_path / "records.sqlite3")
    return PostgresDatabase(request.getfixturevalue("postgres_url"))


def test_accounts_tokens_and_throttling_behave_alike_on_both_engines(database, clock):
    users = UserStore(database, clock=clock)
    users.add("anna", name="Anna Nowak", email="anna@um.example.pl", roles=["author"], units=["OR"], password=PASSWORD)
    with pytest.raises(Conflict, match="already exists"):
        users.add("anna", name="Anna", email="a@um.example.pl", roles=["author"], password=PASSWORD)
    assert users.authenticate("anna", PASSWORD).units == {"OR"}
    users.set_language("anna", "en")
    users.set_language("anna", "pl")  # an upsert, not a second row
    assert users.get("anna").language == "pl"

    token = users.create_token("anna", label="skrypt")
    assert users.user_for_token(token, address="10.0.0.7").login == "anna"
    [listed] = users.list_tokens("anna")
    assert (listed["label"], listed["last_used_from"]) == ("skrypt", "10.0.0.7")
    users.revoke_token(listed["id"], login="anna")
    with pytest.raises(Unauthorized):
        users.user_for_token(token)

    for _ in range(5):
        with pytest.raises(Unauthorized):
            users.authenticate("anna", "wrong password!", address="10.0.0.9")
    with pytest.raises(Throttled):
        users.authenticate("anna", PASSWORD)  # the right password too, until the window passes
    clock.advance(minutes=16)
    assert users.authenticate("anna", PASSWORD).login == "anna"

    users.record("admin", "anna", "grant", "role approver")
    assert [e["detail"] for e in users.account_events("anna")] == ["role approver"]
    assert [e["event"] for e in users.newest_events(login="anna")] == ["grant"]
    assert users.newest_events(since="2100-01-01T00:00:00") == []


def test_sessions_and_confirmations_behave_alike_on_both_engines(database, clock):
    sessions = SessionStore(database, idle=timedelta(minutes=30), lifetime=timedelta(hours=12), clock=clock)
    sid = sessions.start("anna", "10.0.0.7")
    assert sessions.check(sid, "anna") and not sessions.check(sid, "bartek")
    clock.advance(minutes=31)
    assert not sessions.check(sid, "anna")  # idle: ended
    second = sessions.start("anna", "10.0.0.8")
    assert sessions.end_all("anna", "password") == 1 and not sessions.check(second, "anna")

    acks = AckStore(database, clock=clock)
    first = acks.record("anna", "P-01", 1)
    clock.advance(hours=1)
    assert acks.record("anna", "P-01", 1).at == first.at  # confirming again keeps the first time
    acks.record("bartek", "P-02", 3)
    assert acks.has("anna", "P-01", 1) and not acks.has("anna", "P-01", 2)
    assert [a.login for a in acks.newest(limit=10)] == ["bartek", "anna"]
    assert [a.document_id for a in acks.newest(document_ids=["P-01"], limit=10)] == ["P-01"]
    assert {a.login for a in acks.for_documents(["P-01", "P-02"])} == {"anna", "bartek"}


def test_the_outbox_behaves_alike_on_both_engines(database, clock):
    outbox = Outbox(database, clock=clock)
    message = Message(key="k1", login="anna", email="anna@um.example.pl", kind="released", subject="S", body="B")
    assert outbox.add([message, message]) == 1  # one key, one row
    assert outbox.claim_daily_look("2026-03-02") and not outbox.claim_daily_look("2026-03-02")
    [claimed] = outbox.claim_immediate()
    outbox.failed([claimed], "550 no such user", permanent=True)
    assert outbox.counts() == {"failed": 1}
    assert [m.last_error for m in outbox.messages(state="failed")] == ["550 no such user"]
    assert outbox.messages(login="nobody") == []
    assert outbox.retry_failed() == 1
    [again] = outbox.claim_immediate()
    outbox.sent([again], "<id@docctl>")
    assert outbox.counts() == {"sent": 1}
    outbox.set_preferences("anna", {"released": "digest"})
    outbox.set_preferences("anna", {"released": "none"})
    assert outbox.preferences("anna", {"released": "immediate", "rejected": "immediate"}) == {
        "released": "none",
        "rejected": "immediate",
    }


def test_append_only_records_cannot_be_altered_in_postgresql(postgres_url, clock):
    AckStore(postgres_url, clock=clock).record("anna", "P-01", 1)
    users = UserStore(postgres_url, clock=clock)
    users.record("admin", "anna", "grant", "role approver")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in (
            "UPDATE acknowledgements SET at = 'x'",
            "DELETE FROM acknowledgements",
            "TRUNCATE acknowledgements",
            "UPDATE account_events SET detail = 'x'",
            "DELETE FROM account_events",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    assert AckStore(postgres_url).has("anna", "P-01", 1)


def test_two_senders_on_one_postgresql_outbox_claim_each_message_once(postgres_url, clock):
    Outbox(postgres_url, clock=clock).add(
        Message(key=f"k{n}", login="anna", email="a@um.example.pl", kind="released", subject="S", body="B")
        for n in range(300)
    )
    senders = [Outbox(postgres_url, clock=clock) for _ in range(2)]
    senders[1].worker = "other-node:1"
    taken: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def claim(i: int) -> None:
        start.wait()
        while batch := senders[i].claim_immediate(limit=7):
            taken[i] += [m.id for m in batch]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 300
    for sender in senders:
        sender.database.close()


def test_migrations_are_versioned_applied_once_and_a_newer_database_is_refused(postgres_url):
    database = PostgresDatabase(postgres_url)
    first = Schema("example", ("CREATE TABLE things (name TEXT PRIMARY KEY)",))
    assert database.upgrade(first) == (0, 1)
    assert database.upgrade(first) == (1, 1)  # a second start changes nothing
    second = Schema("example", (*first.steps, "ALTER TABLE things ADD COLUMN colour TEXT"))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(PostgresDatabase(postgres_url).upgrade(second)))]
    threads.append(threading.Thread(target=lambda: results.append(PostgresDatabase(postgres_url).upgrade(second))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [(1, 2), (2, 2)]  # two nodes starting together: applied once
    assert database.versions()["example"] == 2
    with pytest.raises(RuntimeError, match="newer than this docctl"):
        database.upgrade(first)


def test_db_upgrade_and_db_copy_move_an_embedded_instance_into_postgresql(tmp_path, clock, postgres_url):
    instance = make_instance(tmp_path / "instance", clock)
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    token = instance.users.create_token("auditor", label="raport")
    instance.users.create_token("qm", label="stary")
    instance.users.grant("author", roles=["approver"], actor="admin")
    instance.acks.record("reader", "P-01", 1)
    sid = instance.sessions.start("reader", "10.0.0.7")
    counts = instance.outbox.counts()
    assert counts  # the release queued notifications

    runner = CliRunner()
    env = {"DOCCTL_DATABASE_URL": postgres_url}
    upgraded = runner.invoke(cli, ["--instance", str(instance.root), "db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "accounts: version 2 (was 0)" in upgraded.output and "***" not in postgres_url
    copied = runner.invoke(cli, ["--instance", str(instance.root), "db", "copy"], env=env)
    assert copied.exit_code == 0, copied.output
    assert "users: 9 row(s)" in copied.output and "acknowledgements: 1 row(s)" in copied.output

    shared = Instance(instance.root, overrides={"DATABASE_URL": postgres_url}, clock=clock)
    assert shared.databases["accounts"].dialect == "postgresql"
    assert {p.login for p in shared.users.list()} == set(people)
    assert shared.users.authenticate("reader", PASSWORD).login == "reader"
    assert shared.users.user_for_token(token).login == "auditor"
    assert shared.acks.has("reader", "P-01", 1)
    assert shared.sessions.check(sid, "reader")  # nobody is logged out by the move
    assert shared.outbox.counts() == counts
    assert [e["detail"] for e in shared.users.account_events("author")] == ["role approver"]
    newer = shared.users.create_token("qm", label="nowy")  # numbering continues after the copied rows
    assert [t["id"] for t in shared.users.list_tokens("qm")] == [2, 3] and newer
    assert shared.verify().ok

    again = runner.invoke(cli, ["--instance", str(instance.root), "db", "copy"], env=env)
    assert again.exit_code == 1 and "db copy fills an empty database" in again.output


def test_two_nodes_on_one_remote_and_one_database_are_one_system(tmp_path, clock, postgres_url):
    remote = tmp_path / "shared.git"
    subprocess.run(["git", "init", "--bare", "-q", str(remote)], check=True)
    overrides = {"GIT_REMOTE": str(remote), "DATABASE_URL": postgres_url}
    a = make_instance(tmp_path / "a", clock, overrides=overrides)
    with pytest.raises(Unauthorized):  # joining takes an administrator of the shared database
        Instance.create(tmp_path / "b", admin_login="admin", admin_password="not the password", overrides=overrides)
    assert not (tmp_path / "b").exists()  # nothing half-made left behind
    b = Instance.create(tmp_path / "b", admin_login="admin", admin_password=PASSWORD, clock=clock, overrides=overrides)
    assert a.secret_key == b.secret_key  # a login cookie from one node is valid on the other
    assert {p.login for p in b.users.list()} == {p.login for p in a.users.list()}

    people = {p.login: p for p in a.users.list()}
    release(a, people)  # released on node a...
    b.sync()  # ...served by node b
    client_b = build_app(b, {"TESTING": True}).test_client()
    token = a.users.create_token("reader", label="intranet")  # a token made on a works on b
    bearer = {"Authorization": f"Bearer {token}"}
    answer = client_b.get("/api/v1/documents/P-01", headers=bearer)
    assert answer.status_code == 200 and answer.get_json()["revision"] == 1

    confirmed = client_b.post(
        "/api/v1/documents/P-01/acknowledge", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert confirmed.status_code in (200, 201), confirmed.get_data(as_text=True)
    assert a.acks.has("reader", "P-01", 1)  # a confirmation made on b shows on a

    client_a = build_app(a, {"TESTING": True}).test_client()
    page = client_a.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client_a.post("/login", data={"login": "qm", "password": PASSWORD, "csrf_token": csrf}).status_code == 302
    cookie = client_a.get_cookie("session")
    assert client_b.get("/changes").status_code in (302, 401)  # not logged in on b...
    client_b.set_cookie(cookie.key, cookie.value)
    assert client_b.get("/changes").status_code == 200  # logged in on a, served by b
    b.accounts.set_active(b.users.get("admin"), "qm", False)  # deactivated through b...
    assert client_a.get("/changes").status_code in (302, 401)  # ...logged out on a as well
    for node in (a, b):
        node.databases["accounts"].close()


def test_a_database_that_cannot_be_reached_is_a_clear_503_not_a_crash(tmp_path, clock, postgres_url):
    from postgres_server import _free_port

    instance = make_instance(tmp_path / "instance", clock, overrides={"DATABASE_URL": postgres_url})
    token = instance.users.create_token("reader")
    down = Instance(instance.root, overrides={"DATABASE_URL": f"postgresql://docctl@127.0.0.1:{_free_port()}/x"})
    answer = (
        build_app(down, {"TESTING": True})
        .test_client()
        .get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"})
    )
    assert answer.status_code == 503
    assert answer.get_json()["error"]["message"] == "the database cannot be reached: try again in a moment"
