"""Anchors checked (issue 30): every head of ``main`` once recorded on ``refs/docctl/anchors`` must
still be on ``main`` — a release rolled back with plain git shows here even when the reflog of
``main`` was trimmed to hide it. The anchors' own signatures are checked with every other commit's.
"""

from __future__ import annotations

from ..core.commits import Commit
from ..stores.git import GitStore
from ..workflow.anchors import JOURNAL_TRAILERS


def check_anchors(
    store: GitStore,
    main: list[tuple[Commit, dict]],
    *,
    head: str | None,
    until: str | None = None,
    verified: str | None = None,
) -> tuple[list[tuple[str, str]], list[str], dict[str, list[tuple[int, str, int, str]]]]:
    """(problems as (commit, text), notes, the journal heads each anchor recorded) for the anchors
    from ``head`` (the anchors ref as read before ``main``: one written since is the next check's)
    down to the first, checked against ``main`` (first parent, oldest first). Incremental (issue
    30): only those after ``until`` (the anchors a verified anchor read), ``main`` being what came
    after ``verified`` (main's head then)."""
    if head is None:
        return [], ["main has no anchors yet (they are written with each release)"], {}
    on_main = {commit.sha for commit, _ in main} | ({verified} if verified else set())
    anchors = []
    keep = frozenset({"Action", "Main", *JOURNAL_TRAILERS.values()})
    problems = []
    for commit, _ in store.walk([head], first_parent=True, bodies=False, keep=keep):
        if commit.sha == until:
            break
        if until is None and commit.sha in on_main:  # the first anchor's parent: main's history
            break
        if until is not None and commit.trailer("Action") != "anchor":
            problems.append(
                (
                    until,
                    "the anchors read at the last verification are no longer on refs/docctl/anchors: "
                    "the anchors were rewritten",
                )
            )
            break
        anchors.append(commit)
    for anchor in anchors:
        anchored = anchor.trailer("Main") or ""
        if anchor.trailer("Action") != "anchor" or not anchored:
            problems.append((anchor.sha, "a commit on refs/docctl/anchors that is not a docctl anchor"))
        elif anchored not in on_main:
            problems.append(
                (
                    anchor.sha,
                    f"main no longer contains {anchored[:12]}, anchored on {anchor.committed_at.date()}: "
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
    since = " since the last verification" if until else ""
    return problems, [f"{len(anchors)} anchors of main checked{since} (the last of {last})"], journals
