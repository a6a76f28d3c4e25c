"""Backup and restore (issue 31): a backup taken while releases land, restored into a new instance
folder (and an empty PostgreSQL database), holds every document, person, token, confirmation,
journal row and queued message, and `docctl verify --full` holds on it."""

from __future__ import annotations

import subprocess
import threading

import pytest
from click.testing import CliRunner
from conftest import make_instance, release

from docctl.cli import main as cli
from docctl.core.errors import Conflict, Invalid
from docctl.ops.backup import backup, restore
from docctl.ops.instance import Instance


@pytest.fixture(params=["sqlite", "postgresql"])
def busy(request, tmp_path, clock):
    """An instance with releases, a token, confirmations, account events and queued mail."""
    overrides = {}
    if request.param == "postgresql":
        overrides["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    instance = make_instance(tmp_path / "source", clock, overrides=overrides)
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    release(instance, people, doc_id="P-02", text="Drugi.\n", reason="Drugi")
    instance.acks.record("reader", "P-01", 1)
    instance.acks.record("author", "P-02", 1)
    instance.users.record("admin", "reader", "changed", "+unit OR")
    token = instance.users.create_token("reader", label="script")
    return instance, people, token, request.param


def _state(instance: Instance) -> dict:
    return {
        "documents": sorted((d.shown.doc_id, d.shown.revision) for d in instance.catalog.master_list(instance.today())),
        "people": sorted((p.login, p.email, tuple(sorted(p.roles))) for p in instance.users.list()),
        "confirmations": [row.row_hash for row in instance.acks.chain()],
        "account events": [row.row_hash for row in instance.users.event_chain()],
        "outbox": instance.outbox.counts(),
    }


def test_a_backup_taken_while_releases_land_restores_whole(busy, tmp_path, monkeypatch, request):
    instance, people, token, kind = busy
    landed = []

    def releases() -> None:  # in flight while the backup runs
        for n in range(3, 6):
            landed.append(release(instance, people, doc_id=f"P-0{n}", text=f"Tekst {n}.\n", reason="W trakcie"))

    worker = threading.Thread(target=releases)
    worker.start()
    made = backup(instance, tmp_path / "backup")
    worker.join()
    assert made.refs >= 3 and made.locked_seconds < 5
    checked = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=made.folder, capture_output=True)
    assert checked.returncode == 0, checked.stdout
    if kind == "postgresql":
        monkeypatch.setenv("DOCCTL_DATABASE_URL", request.getfixturevalue("postgres_server").new_database())
    restored = restore(made.folder, tmp_path / "restored")
    assert restored.main == made.main and restored.database == kind
    copy = Instance(tmp_path / "restored")
    copy.start()
    assert copy.store.head() == made.main
    report = copy.verify(full=True)
    assert report.ok, report.problems
    state = _state(copy)
    assert ("P-01", 1) in state["documents"] and ("P-02", 1) in state["documents"]
    expected = _state(instance)  # the source has since moved on: compare what the backup held
    assert state["people"] == expected["people"]
    assert state["confirmations"] == expected["confirmations"]
    assert state["account events"] == expected["account events"]
    assert copy.users.user_for_token(token).login == "reader"
    assert sum(state["outbox"].values()) > 0
    listed = subprocess.run(
        ["git", f"--git-dir={instance.store.path}", "ls-tree", "--name-only", made.main, "documents/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {d for d, _ in state["documents"]} == {
        name[len("documents/") : -3] for name in listed if name.endswith(".md")
    }
    assert (
        subprocess.run(  # the source moved on from the head the backup holds, never away from it
            ["git", f"--git-dir={instance.store.path}", "merge-base", "--is-ancestor", made.main, instance.store.head()]
        ).returncode
        == 0
    )
    assert len(landed) == 3


def test_a_damaged_backup_or_a_used_target_is_refused(instance, tmp_path):
    made = backup(instance, tmp_path / "backup")
    with pytest.raises(Conflict):
        backup(instance, tmp_path / "backup")  # never over an earlier backup
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(Conflict, match="restore into a new instance folder"):
        restore(made.folder, tmp_path / "used")
    data = bytearray((made.folder / "reflogs.tar").read_bytes())
    data[600] ^= 1
    (made.folder / "reflogs.tar").write_bytes(bytes(data))
    with pytest.raises(Invalid, match="reflogs.tar in the backup does not match its manifest"):
        restore(made.folder, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()  # nothing half-made left behind


def test_a_postgresql_backup_is_not_restored_over_records(tmp_path, clock, postgres_url, monkeypatch):
    instance = make_instance(tmp_path / "source", clock, overrides={"DATABASE_URL": postgres_url})
    made = backup(instance, tmp_path / "backup")
    assert (made.folder / "databases" / "database.pgdump").exists()
    monkeypatch.setenv("DOCCTL_DATABASE_URL", postgres_url)  # the source's own database, full
    with pytest.raises(Conflict, match="already has tables"):
        restore(made.folder, tmp_path / "restored")
    monkeypatch.delenv("DOCCTL_DATABASE_URL")
    with pytest.raises(Invalid, match="set DATABASE_URL"):
        restore(made.folder, tmp_path / "restored")


def test_the_cli_backs_up_and_restores(instance, tmp_path):
    runner = CliRunner()
    made = runner.invoke(cli, ["--instance", str(instance.root), "backup", str(tmp_path / "b")])
    assert made.exit_code == 0, made.output
    assert "sha256sum -c MANIFEST.sha256" in made.output
    back = runner.invoke(cli, ["--instance", str(tmp_path / "r"), "restore", str(tmp_path / "b")])
    assert back.exit_code == 0, back.output
    assert "people" in back.output
    checked = runner.invoke(cli, ["--instance", str(tmp_path / "r"), "verify", "--full"])
    assert checked.exit_code == 0, checked.output


def test_a_release_after_the_lock_is_not_in_the_copy(tmp_path, clock, monkeypatch):
    """Issue 33: the reflogs are read after the write lock (200,000 of them held releases 59 s);
    each is cut at the move that set the value read under the lock, so a step that lands
    between the two is in neither the refs nor the reflogs of the copy, and the restored
    instance verifies."""
    instance = make_instance(tmp_path / "source", clock)
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    before = instance.store.head()
    read_reflogs = type(instance.store).snapshot

    def after_a_release(store, refs):  # the lock is released: a release lands, then the reflogs are read
        release(instance, people, "P-02", "Drugi, po blokadzie.\n", reason="Po blokadzie")
        return read_reflogs(store, refs)

    monkeypatch.setattr(type(instance.store), "snapshot", after_a_release)
    made = backup(instance, tmp_path / "copy")
    assert instance.store.head() != before and made.main == before
    restore(made.folder, tmp_path / "restored")
    reflog = (tmp_path / "restored" / "repo.git" / "logs" / "refs" / "heads" / "main").read_text().splitlines()
    assert reflog[-1].split()[1] == before
    assert Instance(tmp_path / "restored").verify(full=True).ok
