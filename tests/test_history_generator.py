"""The benchmark's history generator writes docctl's exact format: the same commits with the same
trailers, in the same order, as the workflow; and docctl serves and continues a generated history."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
from history import PASSWORD, generate  # noqa: E402


def _shapes(instance, ref: str, change: int | None = None) -> list[tuple[str, list[str]]]:
    """(Action, trailer keys) of each first-parent commit on ``ref`` (of one change), oldest first."""
    commits = instance.store.log(instance.store.head(ref), first_parent=True, reverse=True)
    own = [c for c in commits if change is None or c.trailer("Change") == str(change)]
    return [(c.trailer("Action") or "", [k for k, _ in c.trailers]) for c in own]


@pytest.fixture
def generated(tmp_path):
    return generate(tmp_path / "gen", documents=3, revisions=2, progress=lambda _: None)


def test_generated_commits_have_the_workflow_shape(generated, instance, people):
    from conftest import DOC, release

    release(instance, people, doc_id="P-0001", title="Procedura 1")
    release(instance, people, doc_id="P-0001", title="Procedura 1", text=DOC + "\nDwa.\n", reason="Dwa")
    grown_main = [s for s in _shapes(instance, "refs/heads/main") if s[0] == "release"]
    generated_main = [s for s in _shapes(generated, "refs/heads/main") if s[0] == "release"]
    assert {tuple(keys) for _, keys in generated_main} == {tuple(keys) for _, keys in grown_main}
    grown_change = _shapes(instance, "refs/heads/changes/2", 2)
    generated_change = _shapes(generated, "refs/heads/changes/4", 4)
    assert [a for a, _ in generated_change] == ["create", "submit", "approve", "approve", "release"]
    assert generated_change == grown_change


def test_each_generated_change_starts_from_the_commit_it_names(generated):
    """Base-Commit names the parent of the change's first commit, after the signing pass gave
    every commit a new id (it named the unsigned one: opening a change walked main's whole line)."""
    store = generated.store
    for ref, head in store.refs("refs/heads/changes/").items():
        number = ref.rsplit("/", 1)[1]
        own = [sha for sha in store.first_parents(head) if store.commit(sha).trailer("Change") == number]
        first = store.commit(own[-1])
        assert first.trailer("Base-Commit") == first.parents[0], ref


def test_a_generated_history_is_served_and_continued(generated):
    generated.start()
    wf = generated.workflow
    assert [r.revision for r in generated.catalog.revisions("P-0002")] == [2, 1]
    done = wf.get(5)
    assert done.state == "released" and len(done.signatures) == 2 and done.base_revision == 1
    assert len(wf.list_changes()) == 6
    author, approver, qm = (generated.users.get(x) for x in ("author", "approver", "qm"))
    change = wf.create(author, doc_id="P-0002", markdown="# Procedura 2\n\nRewizja trzecia.\n", reason="Trzy")
    assert change.number == 7 and change.base_revision == 2
    wf.submit(author, change.number)
    wf.approve(approver, change.number, password=PASSWORD)
    assert wf.approve(qm, change.number, password=PASSWORD).state == "released"
    assert generated.catalog.revisions("P-0002")[0].revision == 3
    hits = generated.search.search("trzecia", at=generated.today()).hits
    assert [(h.doc_id, h.revision) for h in hits] == [("P-0002", 3)]


def test_a_generated_history_verifies_as_grown_through_docctl(generated):
    """Same commits, same reflog of main: `docctl verify` finds nothing to report."""
    report = generated.verify()
    assert report.ok, report.problems[:5]
    assert report.releases == 6 and report.signatures == 12


def test_the_packs_written_by_hand_are_sound_git(tmp_path):
    """The generator writes texts, documents/ trees (deltas) and signed commits into packs with
    their indexes itself (issue 33): git's own full check finds every object sound, and a
    document's tree entry lists every document in git's order, and the history verifies."""
    import subprocess

    generated = generate(tmp_path / "gen", documents=12, revisions=2, progress=lambda _: None)
    git = ["git", f"--git-dir={generated.store.path}"]
    check = subprocess.run([*git, "fsck", "--full", "--strict"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    names = subprocess.run([*git, "ls-tree", "--name-only", "main", "documents/"], capture_output=True, text=True)
    assert names.stdout.split() == sorted(f"documents/P-{d:04d}.md" for d in range(1, 13))
    assert generated.verify(full=True).ok


def test_a_flat_tree_written_by_deltas_is_the_tree_git_makes(tmp_path):
    """Entries inserted in the middle (past 9,999 documents "P-10000.md" sorts before
    "P-1001.md"), replaced, and appended: each tree, read back through its delta chain, is the
    tree ``git mktree`` makes of the same entries."""
    import subprocess

    from packing import FlatTree, PackWriter, object_id

    git = ["git", f"--git-dir={tmp_path / 'repo.git'}"]
    subprocess.run(["git", "init", "--bare", "-q", str(tmp_path / "repo.git")], check=True)
    pack = PackWriter(tmp_path / "repo.git")
    tree = FlatTree(pack)
    entries: dict[str, bytes] = {}
    made = []
    for step, name in enumerate(["P-1001.md", "P-2000.md", "P-10000.md", "P-1001.md", "P-9.md", "P-0.md"]):
        blob = object_id("blob", f"{name} {step}".encode())
        pack.whole(3, f"{name} {step}".encode(), blob)
        entries[name] = blob
        made.append((tree.set(name, blob), dict(entries)))
    pack.close()
    for tree_id, expected in made:
        listing = "".join(f"100644 blob {blob.hex()}\t{name}\n" for name, blob in expected.items())
        want = subprocess.run([*git, "mktree", "--missing"], input=listing, capture_output=True, text=True).stdout
        assert tree_id == want.strip()
        shown = subprocess.run([*git, "cat-file", "-p", tree_id], capture_output=True, text=True, check=True).stdout
        assert len(shown.splitlines()) == len(expected)
    assert subprocess.run([*git, "fsck", "--full"], capture_output=True).returncode == 0
