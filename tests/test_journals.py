"""Journals outside git, chained and anchored (issue 30): a deleted, altered or reordered read
confirmation or account event is named by verify — on SQLite and on PostgreSQL — even with the
append-only triggers out of the way, and so are the newest rows cut away after an anchor."""

from __future__ import annotations

import pytest
from conftest import make_instance, release

TABLES = {"confirmations": "acknowledgements", "account events": "account_events"}


@pytest.fixture(params=["sqlite", "postgresql"])
def journaled(request, tmp_path, clock):
    overrides = {}
    if request.param == "postgresql":
        overrides["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    instance = make_instance(tmp_path / "inst", clock, overrides=overrides)
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    release(instance, people, doc_id="P-02", text="Drugi.\n", reason="Drugi")
    for login in ("reader", "author", "approver", "qm"):
        instance.acks.record(login, "P-01", 1)
    for n in range(4):
        instance.users.record("admin", "reader", "changed", f"step {n}")
    return instance


def tamper(instance, name: str, *statements: str) -> None:
    """What someone who can write the database does: the append-only triggers out first."""
    table = TABLES[name]
    store = instance.acks if name == "confirmations" else instance.users
    with store._db() as conn:
        if store.database.dialect == "sqlite":
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for statement in statements:
            conn.execute(statement.format(table=table))


def problems(instance) -> list[str]:
    return [p.problem for p in instance.verify().problems]


def test_an_honest_journal_verifies_and_its_head_is_anchored(journaled):
    report = journaled.verify()
    assert report.ok, report.problems
    assert any(n.startswith("confirmations: 4 chained rows checked") for n in report.notes)
    journaled.workflow.anchor("test")
    anchor = journaled.store.commit(journaled.store.head("refs/docctl/anchors"))
    seq, digest, _ = journaled.acks.chain_head()
    assert anchor.trailer("Confirmations") == f"{seq} {digest} 0"


@pytest.mark.parametrize("name", ["confirmations", "account events"])
def test_a_deleted_row_is_named(journaled, name):
    tamper(journaled, name, "DELETE FROM {table} WHERE seq = 2")
    assert any(p.startswith(f"{name}: row 2 is missing") for p in problems(journaled))


@pytest.mark.parametrize(("name", "column"), [("confirmations", "at"), ("account events", "detail")])
def test_an_altered_row_is_named(journaled, name, column):
    tamper(journaled, name, f"UPDATE {{table}} SET {column} = '2020-01-01T00:00:00+00:00' WHERE seq = 3")  # noqa: S608 - the test's own tampering
    assert any(p.startswith(f"{name}: row 3 was altered") for p in problems(journaled))


@pytest.mark.parametrize("name", ["confirmations", "account events"])
def test_reordered_rows_are_named(journaled, name):
    tamper(
        journaled,
        name,
        "UPDATE {table} SET seq = -1 WHERE seq = 2",
        "UPDATE {table} SET seq = 2 WHERE seq = 3",
        "UPDATE {table} SET seq = 3 WHERE seq = -1",
    )
    assert any(f"{name}: row 2 does not follow" in p for p in problems(journaled))


@pytest.mark.parametrize("name", ["confirmations", "account events"])
def test_the_newest_rows_cut_away_after_an_anchor_are_named(journaled, name):
    journaled.workflow.anchor("test")  # the daily anchor, say
    store = journaled.acks if name == "confirmations" else journaled.users
    seq = (store.chain_head() if name == "confirmations" else store.event_chain_head())[0]
    tamper(journaled, name, f"DELETE FROM {{table}} WHERE seq = {seq}")  # noqa: S608 - the test's own tampering
    found = problems(journaled)
    assert any(f"{name}: row {seq}, anchored on" in p and "is gone" in p for p in found), found


def test_a_confirmation_of_a_revision_git_never_released_is_named(journaled):
    journaled.acks.record("reader", "P-01", 7)
    assert any("reader confirmed P-01 revision 7, never released" in p for p in problems(journaled))
