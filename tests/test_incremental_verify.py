"""Incremental verification (issue 30): after a check that found nothing wrong, the next one goes on
from the verified anchor it left — yet a rollback, a commit forged after it, a journal row deleted
long before it, a reflog cut back and a verified anchor forged with plain git are all still named.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from conftest import DOC, release

from docctl.cli import main as cli
from docctl.workflow import ANCHORS


def git(instance, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        ["git", f"--git-dir={instance.store.path}", *args], input=input, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def verified(instance, people):
    """Two releases, verified once in full (which leaves a verified anchor), then a third."""
    release(instance, people)
    release(instance, people, doc_id="P-02", text="Drugi.\n", reason="Drugi")
    first = instance.verify()
    assert first.ok and first.mode == "full", first.problems
    release(instance, people, "P-01", DOC + "\nZmiana.\n", reason="Druga rewizja")
    return instance


def test_the_next_check_goes_on_from_the_verified_anchor(verified):
    anchor = verified.store.commit(git(verified, "rev-parse", ANCHORS + "~1"))  # before the release's own
    assert anchor.trailer("Verified") == "full" and anchor.trailer("Anchor-Reason") == "verified"
    state = json.loads(git(verified, "show", f"{anchor.sha}:verified.json"))
    assert state["main"] == anchor.trailer("Main") and state["register"]["documents"]["P-02"][0] == 1
    report = verified.verify()
    assert report.ok, report.problems
    assert report.mode == "incremental" and report.since == state["main"]
    # the release on main, the change's 5 steps (its "released" among them), the verified anchor and
    # the release's own
    assert report.commits == 8 and report.releases == 1 and report.signatures == 2
    assert report.skipped == state["commits"]
    assert report.notes[0].startswith(f"incremental: {state['commits']} commits up to {state['main'][:12]}")
    full = verified.verify(full=True)
    assert full.ok and full.mode == "full" and full.releases == 3


def test_a_commit_forged_after_the_verified_anchor_is_named(verified):
    head = git(verified, "rev-parse", "main")
    blob = git(verified, "hash-object", "-w", "--stdin", input="---\nid: P-01\n---\nhacked\n")
    tree = verified.store.tree_with(git(verified, "rev-parse", "main^{tree}"), {"documents/P-01.md": blob})
    forged = git(verified, "commit-tree", tree, "-p", head, "-m", "quick fix")
    git(verified, "update-ref", "-m", "docctl: release", "refs/heads/main", forged, head)
    report = verified.verify()
    assert report.mode == "incremental"
    found = [f"{p.commit[:10]} {p.problem}" for p in report.problems]
    assert any(p.startswith(forged[:10]) and "not a docctl step" in p for p in found), found
    assert any(p.startswith(forged[:10]) and "not signed" in p for p in found), found


def test_a_commit_forged_on_an_old_change_branch_is_named(verified):
    """Change 1 was released before the verified anchor; a commit added to its branch afterwards
    moves the digest of its thousand branches, so the incremental check walks them again."""
    assert verified.verify().ok
    tip = git(verified, "rev-parse", "refs/heads/changes/1")
    forged = git(verified, "commit-tree", f"{tip}^{{tree}}", "-p", tip, "-m", "tidy up")
    git(verified, "update-ref", "refs/heads/changes/1", forged, tip)
    report = verified.verify()
    assert report.mode == "incremental"
    assert any(p.commit == forged and "not recorded by docctl" in p.problem for p in report.problems), report.problems


def test_only_the_branches_of_a_moved_group_are_walked(verified, people, monkeypatch):
    """With one branch a group, the check after a fourth release names to git only the fourth
    change's branch: the three verified before are not walked again."""
    from docctl.audit import checkpoint
    from docctl.stores.git import GitStore

    monkeypatch.setattr(checkpoint, "DIGITS_GROUPED", 0)
    assert verified.verify().ok  # records one digest a branch
    release(verified, people, "P-02", "Drugi, poprawiony.\n", reason="Poprawka")
    named = []
    walk = GitStore.walk

    def spy(self, refs, **kwargs):
        if kwargs.get("change_branches") is not None:
            named.append((list(refs), kwargs["change_branches"]))
        return walk(self, refs, **kwargs)

    monkeypatch.setattr(GitStore, "walk", spy)
    report = verified.verify()
    assert report.ok and report.mode == "incremental", report.problems
    tips = {n: git(verified, "rev-parse", f"refs/heads/changes/{n}") for n in (1, 2, 3, 4)}
    [(refs, globbed)] = named
    assert not globbed and tips[4] in refs
    assert not {tips[1], tips[2], tips[3]} & set(refs), refs


def test_main_moved_back_before_the_verified_head_is_named(verified, people):
    verified.verify()  # the verified head is now the third release
    back = git(verified, "rev-parse", "main~2")
    head = git(verified, "rev-parse", "main")
    git(verified, "update-ref", "-m", "docctl: release P-01 r1", "refs/heads/main", back, head)
    reflog = verified.store.path / "logs" / "refs" / "heads" / "main"
    reflog.write_text("".join(reflog.read_text().splitlines(keepends=True)[:-3]))
    report = verified.verify()
    found = [p.problem for p in report.problems]
    assert any(f"main no longer contains {head[:12]}, verified on" in p for p in found), found
    assert any(f"main no longer contains {head[:12]}, anchored on" in p for p in found), found
    assert report.mode == "full"  # what cannot go on from the anchor is checked whole


def test_a_journal_row_deleted_long_before_the_verified_anchor_is_named(verified):
    verified.acks.record("reader", "P-01", 1)
    verified.acks.record("author", "P-01", 1)
    assert verified.verify().ok
    with verified.acks._db() as conn:
        conn.execute("DROP TRIGGER IF EXISTS acknowledgements_no_delete")
        conn.execute("DELETE FROM acknowledgements WHERE seq = 1")
    report = verified.verify()
    assert report.mode == "incremental"
    assert any(p.problem.startswith("confirmations: row 1 is missing") for p in report.problems), report.problems


def test_a_reflog_cut_back_after_the_verified_anchor_is_named(verified):
    assert verified.verify().ok
    reflog = verified.store.path / "logs" / "refs" / "heads" / "main"
    lines = reflog.read_text().splitlines(keepends=True)
    reflog.write_text("".join(lines[:2] + lines[3:]))  # an old move cut out
    found = [p.problem for p in verified.verify().problems]
    assert any("the reflog of main no longer holds entry" in p for p in found), found


def test_a_verified_anchor_forged_with_plain_git_is_not_believed(verified):
    """Someone who can write the repository but not sign as the instance writes a verified
    anchor claiming that main is verified up to its head: docctl checks the whole history."""
    head = git(verified, "rev-parse", "main")
    last = git(verified, "rev-parse", ANCHORS)
    real = git(verified, "rev-parse", ANCHORS + "~1")
    tree = git(verified, "rev-parse", f"{real}^{{tree}}")
    message = f"Anchor\n\nAction: anchor\nMain: {head}\nVerified: full\nAnchor-Reason: verified\n"
    forged = git(verified, "commit-tree", tree, "-p", last, "-p", head, "-m", message)
    git(verified, "update-ref", ANCHORS, forged, last)
    report = verified.verify()
    assert report.mode == "full"
    assert any(f"the verified anchor {forged[:12]} is not signed by this instance's key" in n for n in report.notes)
    assert any(p.commit == forged and "not signed" in p.problem for p in report.problems), report.problems


def test_the_cli_says_which_check_it_made(verified):
    runner = CliRunner()
    quick = runner.invoke(cli, ["--instance", str(verified.root), "verify"])
    assert quick.exit_code == 0, quick.output
    assert "NOTE incremental:" in quick.output and "Checked 8 new commits" in quick.output
    whole = runner.invoke(cli, ["--instance", str(verified.root), "verify", "--full", "--json"])
    assert whole.exit_code == 0, whole.output
    data = json.loads(whole.output)
    assert data["mode"] == "full" and data["checked"]["releases"] == 3
