"""A second node through a git remote (issue 14): two docctl instances, each with its own
repository, meeting in a bare repository in a temporary folder — once with each node's own SQLite
files, once with both on one real PostgreSQL database (people, tokens and confirmations shared)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import DOC, PASSWORD, make_instance

from docctl.core.errors import Conflict
from docctl.ops.instance import Instance
from docctl.stores.people import UserStore


def _git(path, *args) -> str:
    return subprocess.run(
        ["git", f"--git-dir={path}", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path):
    path = tmp_path / "shared.git"
    subprocess.run(["git", "init", "--bare", "-q", str(path)], check=True)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """Each node's own SQLite files (""), or one PostgreSQL database both nodes use."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""


def node(root, remote, clock, database_url: str = "", key_from: Path | None = None) -> Instance:
    overrides = {"GIT_REMOTE": str(remote), "DATABASE_URL": database_url, "NODE_NAME": root.name}
    if key_from is not None and not database_url:  # own databases: the instance key copied over (README)
        root.mkdir(parents=True)
        shutil.copy2(key_from / "signing_key", root / "signing_key")
    if database_url and UserStore(database_url).list():  # the people exist: this node joins them
        return Instance.create(root, admin_login="admin", admin_password=PASSWORD, clock=clock, overrides=overrides)
    return make_instance(root, clock, overrides=overrides)


def people_of(instance):
    return {p.login: p for p in instance.users.list()}


def open_change(instance, doc_id, text=DOC, *, doc_type="instruction", reason="r"):
    people = people_of(instance)
    wf = instance.workflow
    title = None if _exists(instance, doc_id) else f"Dokument {doc_id}"
    change = wf.create(
        people["author"], doc_id=doc_id, markdown=text, reason=reason, title=title, doc_type=doc_type, unit="OR"
    )
    wf.submit(people["author"], change.number)
    return change.number


def _exists(instance, doc_id) -> bool:
    try:
        instance.catalog.revisions(doc_id)
    except Exception:  # noqa: BLE001 - NotFound: a new document
        return False
    return True


def sign(instance, number):
    return instance.workflow.approve(people_of(instance)["approver"], number, password=PASSWORD)


@pytest.fixture
def two_nodes(tmp_path, remote, clock, database_url):
    a = node(tmp_path / "a", remote, clock, database_url)
    b = node(tmp_path / "b", remote, clock, database_url, key_from=a.root)
    return a, b


def test_a_second_node_joins_the_history_and_serves_the_same_documents(tmp_path, remote, clock, database_url):
    a = node(tmp_path / "a", remote, clock, database_url)
    sign(a, open_change(a, "IR-01"))
    b = node(tmp_path / "b", remote, clock, database_url, key_from=a.root)  # GIT_REMOTE has main: b joins
    assert b.store.head() == a.store.head() == _git(remote, "rev-parse", "main")
    assert b.catalog.document("IR-01", b.today()).current.revision == 1
    assert [c.state for c in b.workflow.list_changes()] == ["released"]
    assert b.verify().ok


def test_a_release_on_one_node_is_served_by_the_other_after_sync(two_nodes):
    a, b = two_nodes
    sign(a, open_change(a, "IR-02", "# Instrukcja kasowa\n\nZasady obsługi kasy.\n"))
    queued_by_a = a.outbox.counts()
    report = b.sync()
    assert "refs/heads/main" in report.pulled and not report.diverged
    state = b.catalog.document("IR-02", b.today())
    assert state.current.revision == 1
    assert [h.doc_id for h in b.search.search("kasy", at=b.today()).hits] == ["IR-02"]
    assert b.workflow.list_changes()[0].state == "released"  # the change index caught up too
    # The node that released queued the e-mails; a sync does not queue them again (a shared
    # database shows the one outbox, SQLite files each node's own).
    assert b.outbox.counts() == (queued_by_a if a.settings["DATABASE_URL"] else {})


def test_releases_of_different_documents_on_two_nodes_both_land(two_nodes):
    a, b = two_nodes
    on_a, on_b = open_change(a, "IR-10"), open_change(b, "IR-11")  # b's is numbered after a's: one sequence
    assert on_b == on_a + 1
    sign(a, on_a)
    sign(b, on_b)  # b's main was stale: its push was refused, it synced, and the release ran again
    main = _git(
        a.store.path.parent.parent / "shared.git" if False else b.replicator.remote,
        "log",
        "main",
        "--format=%(trailers:key=Document,valueonly)",
    )
    assert {"IR-10", "IR-11"} <= set(main.split())
    a.sync()
    assert a.store.head() == b.store.head()
    assert {s.doc_id for s in a.catalog.master_list(a.today())} >= {"IR-10", "IR-11"}
    assert a.verify().ok and b.verify().ok


def test_two_releases_of_one_document_one_lands_the_other_gets_409(two_nodes):
    a, b = two_nodes
    sign(a, open_change(a, "IR-20"))
    b.sync()
    first = open_change(a, "IR-20", DOC + "\nZmiana A.\n")
    b.sync()
    second = open_change(b, "IR-20", DOC + "\nZmiana B.\n")
    sign(a, first)
    with pytest.raises(Conflict, match="update the change onto the current revision"):
        sign(b, second)
    assert b.workflow.get(second).state == "in_review"  # nothing lost: it can be updated and signed
    assert b.catalog.document("IR-20", b.today()).current.revision == 2


def test_a_remote_outage_keeps_the_local_release_and_a_later_sync_pushes_it(two_nodes, remote, tmp_path):
    a, b = two_nodes
    number = open_change(a, "IR-30")
    away = tmp_path / "away.git"
    shutil.move(remote, away)  # the git server is down
    sign(a, number)
    assert a.catalog.document("IR-30", a.today()).current.revision == 1  # valid here at once
    assert "refs/heads/main" in a.replicator.status()["ahead"]
    assert a.sync().error
    shutil.move(away, remote)
    report = a.sync()
    assert "refs/heads/main" in report.pushed and not report.error
    b.sync()
    assert b.catalog.document("IR-30", b.today()).current.revision == 1


def test_after_a_partition_the_refs_only_one_side_wrote_are_pushed_and_the_diverged_named(two_nodes, remote, tmp_path):
    a, b = two_nodes
    away = tmp_path / "away.git"
    shutil.move(remote, away)  # neither node can see the other
    first = open_change(a, "IR-50")
    sign(a, first)
    second = open_change(a, "IR-51")
    assert open_change(b, "IR-52") == first  # b numbers its change as a did: the same ref, two histories
    shutil.move(away, remote)
    fetched = a.store.fetch_remote

    def b_pushes_right_after_a_fetched(*args):
        seen = fetched(*args)
        assert set(b.sync().pushed) == {f"refs/heads/changes/{first}"}
        return seen

    a.store.fetch_remote = b_pushes_right_after_a_fetched
    report = a.sync()  # a's refs in one atomic push, refused as a whole (b got in), then ref by ref
    assert set(report.diverged) == {f"refs/heads/changes/{first}"}
    assert set(report.pushed) == {"refs/heads/main", f"refs/heads/changes/{second}"}
    assert _git(remote, "rev-parse", "main") == a.store.head()  # b never released: a's main continues it


def test_a_node_killed_mid_push_loses_nothing(two_nodes, tmp_path):
    a, _ = two_nodes
    sign(a, open_change(a, "IR-39"))  # the approver's signing key is listed already (issue 29)
    number = open_change(a, "IR-40")
    overrides = {"GIT_REMOTE": a.replicator.remote, "DATABASE_URL": a.settings["DATABASE_URL"]}
    script = textwrap.dedent(f"""
        import os, signal
        from docctl.stores import git as repo
        from docctl.ops.instance import Instance
        pushed = repo.GitStore.push_atomic
        def push_then_die(self, remote, updates, *also):
            outcome = pushed(self, remote, updates, *also)
            refs = [ref for ref, _, _ in updates]
            if "refs/heads/main" in refs and any(r.startswith("refs/heads/changes/") for r in refs):  # the release
                os.kill(os.getpid(), signal.SIGKILL)  # after the remote took it, before the local refs
            return outcome
        repo.GitStore.push_atomic = push_then_die
        instance = Instance({str(a.root)!r}, overrides={overrides!r})
        approver = instance.users.get("approver")
        instance.workflow.approve(approver, {number}, password={PASSWORD!r})
    """)
    before = a.store.head()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert proc.returncode == -9, proc.stderr
    assert a.store.head() == before  # killed before its own refs moved...
    a.sync()  # ...and the release is back from the remote (recorded on the real clock's day)
    assert a.catalog.revisions("IR-40")[0].revision == 1
    assert a.workflow.get(number).state == "released"
    assert a.verify().ok


def test_sync_without_a_remote_says_so(instance):
    from docctl.core.errors import ConfigError

    with pytest.raises(ConfigError, match="GIT_REMOTE is not set"):
        instance.sync()


def test_a_node_whose_main_was_moved_back_never_moves_the_remote_back(two_nodes, remote):
    """Issue 30: a node rolled back with plain git releases again: its push is refused (the
    remote is not where it thinks), it catches up, and the remote keeps every release."""
    a, b = two_nodes
    sign(a, open_change(a, "IR-05"))
    b.sync()
    before_rollback = _git(remote, "rev-parse", "main")
    older = _git(b.store.path, "rev-parse", "main~1")
    _git(b.store.path, "update-ref", "refs/heads/main", older)  # b's main moved back by hand
    sign(b, open_change(b, "IR-06"))
    after = _git(remote, "rev-parse", "main")
    assert _git(remote, "merge-base", "--is-ancestor", before_rollback, after) == ""  # only forward
    assert b.catalog.revisions("IR-05")[0].revision == 1  # b caught up before its release landed
    assert b.store.head() == after


def test_a_remote_moved_back_outside_docctl_is_named_with_whose_head_and_pushed_forward_again(two_nodes, remote):
    """Issue 30: someone moves the shared main back with plain git, to the head node b pushed:
    node a's sync names the move and node b, and pushes main forward again."""
    a, b = two_nodes
    sign(b, open_change(b, "IR-05"))
    b_head = _git(remote, "rev-parse", "main")
    assert _git(remote, "rev-parse", f"refs/docctl/nodes/{b.root.name}") == b_head
    a.sync()
    sign(a, open_change(a, "IR-06"))
    a_head = _git(remote, "rev-parse", "main")
    _git(remote, "update-ref", "refs/heads/main", b_head)  # moved back on the remote by hand
    report = a.sync()
    assert report.moved_back == [
        f"the remote's main was moved back from {a_head[:12]} to {b_head[:12]}, the head node {b.root.name} "
        f"pushed; node {a.root.name} pushes its main forward again"
    ]
    assert _git(remote, "rev-parse", "main") == a_head  # forward again, nothing lost
    _git(remote, "update-ref", "refs/heads/main", b_head)
    _git(remote, "update-ref", "-d", f"refs/docctl/nodes/{b.root.name}")
    assert "a head no docctl node pushed (outside docctl)" in a.sync().moved_back[0]


def test_a_node_whose_own_main_was_moved_back_names_itself_and_pushes_nothing(two_nodes, remote):
    a, b = two_nodes
    sign(a, open_change(a, "IR-05"))
    b.sync()
    head = _git(remote, "rev-parse", "main")
    older = _git(b.store.path, "rev-parse", "main~1")
    _git(b.store.path, "update-ref", "refs/heads/main", older)
    report = b.sync()
    assert report.moved_back == [
        f"node {b.root.name}'s own main was moved back from {head[:12]} to {older[:12]} outside docctl: "
        "nothing pushed; brought forward from the remote"
    ]
    assert _git(remote, "rev-parse", "main") == head and b.store.head() == head
