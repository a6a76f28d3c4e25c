"""Issue 12: changes are listed from a derived index shaped for the questions asked — my tasks and
the change list run no git subprocess, and the index rebuilt from git equals the one kept live."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import DOC, PASSWORD, release

from docctl.stores.git import GitStore


@pytest.fixture
def busy(instance, people):
    release(instance, people)
    wf = instance.workflow
    draft = wf.create(people["author"], doc_id="P-01", markdown=DOC + "\nA.\n", reason="A")
    review = wf.create(people["author2"], doc_id="P-01", markdown=DOC + "\nB.\n", reason="B")
    wf.submit(people["author2"], review.number)
    wf.approve(people["approver"], review.number, password=PASSWORD)
    wf.cancel(people["author"], wf.create(people["author"], doc_id="P-01", markdown=DOC + "C", reason="C").number)
    return {"draft": draft.number, "review": review.number}


def _rows(instance):
    return [(s.number, s.state, s.head, s.doc_id) for s in instance.workflow.list_changes()]


def test_my_tasks_and_the_change_list_run_no_git(client, auth, instance, busy, monkeypatch):
    auth.login("qm")
    client.get("/")  # warm: the catalog catches up, the policy is cached

    def no_git(self, *args, **kwargs):
        raise AssertionError(f"git {args[:2]} called")

    monkeypatch.setattr(GitStore, "_run", no_git)
    monkeypatch.setattr(subprocess, "Popen", no_git)
    home = client.get("/").get_data(as_text=True)
    assert f"Change {busy['review']}:" in home  # the QM can still sign it
    listing = client.get("/changes?state=draft").get_data(as_text=True)
    assert f">{busy['draft']}<" in listing


def test_index_rebuilt_from_git_equals_the_live_one(instance, busy):
    live = _rows(instance)
    assert [r[1] for r in live] == ["cancelled", "in_review", "draft", "released"]
    assert instance.workflow.rebuild_change_index() == 4
    assert _rows(instance) == live


def test_next_number_skips_a_ref_the_index_has_not_seen(instance, people, busy):
    with instance.workflow.change_index._connect() as conn:  # a writer died before indexing
        conn.execute("DELETE FROM changes WHERE number = (SELECT max(number) FROM changes)")
    change = instance.workflow.create(people["author"], doc_id="P-01", markdown=DOC + "\nD.\n", reason="D")
    assert change.number == 5


def test_packed_refs_are_read_without_git(instance, busy, monkeypatch):
    store = instance.store
    heads = {ref: store.head(ref) for ref in ("refs/heads/main", f"refs/heads/changes/{busy['draft']}")}
    subprocess.run(["git", "--git-dir", str(store.path), "pack-refs", "--all", "--prune"], check=True)
    assert not (store.path / "refs/heads/main").exists()
    monkeypatch.setattr(GitStore, "_run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("git called")))
    assert {ref: store.head(ref) for ref in heads} == heads
    assert not store.has_ref("refs/heads/changes/99")


def test_opening_a_change_never_lists_every_change(instance, people, busy, monkeypatch):
    """A withdrawal checks the open changes only, a new ID asks for the IDs only, and the
    current search index reads the open drafts only: all three once listed every change."""
    from docctl.derived.change_index import ChangeIndex

    def every_change(self, state=None, **kwargs):
        if state is None:
            raise AssertionError("every change listed")
        return original(self, state, **kwargs)

    original = ChangeIndex.summaries
    monkeypatch.setattr(ChangeIndex, "summaries", every_change)
    wf = instance.workflow
    assert wf.propose_id("procedure") == "P-02"  # P-01 is taken (released, and named by changes)
    withdrawal = wf.withdraw(people["qm"], "P-01", reason="Zastąpiona")
    with pytest.raises(Exception, match="already open"):
        wf.withdraw(people["qm"], "P-01", reason="Again")
    assert instance.indexer.rebuild_current() == 3  # P-01 in force, the draft and the change in review
    assert withdrawal.kind == "withdraw"


def test_a_page_reads_mains_ref_once(client, auth, instance, busy, monkeypatch):
    """A reading request sees one head of main (a page from two heads would mix two states)."""
    auth.login("qm")
    client.get("/")  # warm
    reads = []
    original = GitStore._read_head
    monkeypatch.setattr(
        GitStore, "_read_head", lambda self, ref="refs/heads/main": reads.append(ref) or original(self, ref)
    )
    for path in ("/", "/documents", "/documents/P-01", "/documents/P-01/history"):
        reads.clear()
        assert client.get(path).status_code == 200
        assert reads.count("refs/heads/main") == 1, path


def test_the_change_list_comes_in_pages_newest_first(client, auth, instance, busy, monkeypatch):
    """Listing 40,000 changes took 2 s and 10 MB a page: the page lists 50, the next link the rest;
    the API pages when asked (``page``) and lists everything otherwise (CONTRACT)."""
    import docctl.reading

    monkeypatch.setattr(docctl.reading, "CHANGES_PER_PAGE", 2)
    auth.login("qm")
    first = client.get("/changes").get_data(as_text=True)
    numbers = [int(n) for n in re.findall(r'href="/changes/(\d+)"', first)]
    assert numbers == [4, 3] and 'href="/changes?page=2"' in first and "Previous page" not in first
    second = client.get("/changes?page=2").get_data(as_text=True)
    assert [int(n) for n in re.findall(r'href="/changes/(\d+)"', second)] == [2, 1]
    assert "Previous page" in second and "page=3" not in second
    assert client.get("/changes?page=x").status_code == 422
    api = client.get("/api/v1/changes?page=1").get_json()
    assert [c["number"] for c in api["changes"]] == [4, 3] and api["next_page"] == 2
    last = client.get("/api/v1/changes?page=2").get_json()
    assert [c["number"] for c in last["changes"]] == [2, 1] and "next_page" not in last
    assert len(client.get("/api/v1/changes").get_json()["changes"]) == 4  # no page: every change


def test_a_page_of_changes_hides_drafts_outside_the_readers_circle(client, auth, instance, busy, monkeypatch):
    import docctl.reading

    monkeypatch.setattr(docctl.reading, "CHANGES_PER_PAGE", 2)
    auth.login("reader")  # may not see others' drafts: those are skipped, not counted in a page
    seen = client.get("/api/v1/changes?page=1").get_json()
    everyone = [c["number"] for c in client.get("/api/v1/changes").get_json()["changes"]]
    assert [c["number"] for c in seen["changes"]] == everyone[:2]
    assert busy["draft"] not in everyone
