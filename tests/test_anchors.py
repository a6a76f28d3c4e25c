"""Anchors (issue 30): main's heads recorded on refs/docctl/anchors, so a roll-back shows."""

from __future__ import annotations

import subprocess

from conftest import release

from docctl.workflow import ANCHORS


def git(instance, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={instance.store.path}", *args], capture_output=True, text=True, check=True
    ).stdout


def test_each_release_anchors_main_with_a_commit_the_instance_signs(instance, people):
    release(instance, people)
    head = instance.store.head("refs/heads/main")
    anchor = instance.store.commit(instance.store.head(ANCHORS))
    assert anchor.trailer("Action") == "anchor" and anchor.trailer("Main") == head
    assert head in anchor.parents  # the anchored head stays reachable whatever happens to main
    assert instance.workflow.anchor("daily") is None  # main has not moved: nothing new to record
    report = instance.verify()
    assert report.ok, report.problems
    assert any("1 anchors of main checked" in n for n in report.notes)


def test_a_release_rolled_back_with_the_reflog_trimmed_is_named(instance, people):
    release(instance, people)
    first = instance.store.head("refs/heads/main")
    release(instance, people, doc_id="P-02", text="Drugi.\n", reason="Drugi")
    second = instance.store.head("refs/heads/main")
    # Moved back with plain git, and the two reflog lines that told it trimmed away.
    git(instance, "update-ref", "-m", "docctl: release P-01 r1", "refs/heads/main", first, second)
    reflog = instance.store.path / "logs" / "refs" / "heads" / "main"
    reflog.write_text("".join(reflog.read_text().splitlines(keepends=True)[:-2]))
    found = [p.problem for p in instance.verify().problems]
    assert any(f"main no longer contains {second[:12]}" in p for p in found), found
    assert not any("reflog" in p or "recorded move" in p for p in found), found  # the reflog reads clean
