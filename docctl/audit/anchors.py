"""Anchors checked (issue 30): every head of ``main`` once recorded on ``refs/docctl/anchors`` must
still be on ``main`` — a release rolled back with plain git shows here even when the reflog of
``main`` was trimmed to hide it. The anchors' own signatures are checked with every other commit's.
"""

from __future__ import annotations

from ..core.commits import Commit
from ..stores.git import GitStore
from ..workflow.anchors import ANCHORS


def check_anchors(store: GitStore, main: list[tuple[Commit, dict]]) -> tuple[list[tuple[str, str]], list[str]]:
    """(problems as (commit, text), notes) for the anchors of ``main`` (first parent, oldest first)."""
    if not store.has_ref(ANCHORS):
        return [], ["main has no anchors yet (they are written with each release)"]
    on_main = {commit.sha for commit, _ in main}
    anchors = []
    for commit, _ in store.walk([ANCHORS], first_parent=True, bodies=False, keep=frozenset({"Action", "Main"})):
        if commit.sha in on_main:  # the first anchor's parent: main's own history begins
            break
        anchors.append(commit)
    problems = []
    for anchor in anchors:
        head = anchor.trailer("Main") or ""
        if anchor.trailer("Action") != "anchor" or not head:
            problems.append((anchor.sha, "a commit on refs/docctl/anchors that is not a docctl anchor"))
        elif head not in on_main:
            problems.append(
                (
                    anchor.sha,
                    f"main no longer contains {head[:12]}, anchored on {anchor.committed_at.date()}: "
                    "main was moved back or rewritten",
                )
            )
    last = anchors[0].committed_at.date() if anchors else None
    return problems, [f"{len(anchors)} anchors of main checked (the last of {last})"]
