"""Anchors checked (issue 30): every head of ``main`` once recorded on ``refs/docctl/anchors`` must
still be on ``main`` — a release rolled back with plain git shows here even when the reflog of
``main`` was trimmed to hide it. The anchors' own signatures are checked with every other commit's.
"""

from __future__ import annotations

from ..core.commits import Commit
from ..stores.git import GitStore
from ..workflow.anchors import ANCHORS, JOURNAL_TRAILERS


def check_anchors(
    store: GitStore, main: list[tuple[Commit, dict]]
) -> tuple[list[tuple[str, str]], list[str], dict[str, list[tuple[int, str, int, str]]]]:
    """(problems as (commit, text), notes, the journal heads each anchor recorded) for the anchors
    of ``main`` (first parent, oldest first)."""
    if not store.has_ref(ANCHORS):
        return [], ["main has no anchors yet (they are written with each release)"], {}
    on_main = {commit.sha for commit, _ in main}
    anchors = []
    keep = frozenset({"Action", "Main", *JOURNAL_TRAILERS.values()})
    for commit, _ in store.walk([ANCHORS], first_parent=True, bodies=False, keep=keep):
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
    journals: dict[str, list[tuple[int, str, int, str]]] = {}
    for anchor in anchors:
        for name, key in JOURNAL_TRAILERS.items():
            value = (anchor.trailer(key) or "").split()
            if len(value) == 3 and value[0].isdigit() and value[2].isdigit():
                day = str(anchor.committed_at.date())
                journals.setdefault(name, []).append((int(value[0]), value[1], int(value[2]), day))
    last = anchors[0].committed_at.date() if anchors else None
    return problems, [f"{len(anchors)} anchors of main checked (the last of {last})"], journals
