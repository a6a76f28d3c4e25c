"""How refs moved (issue 18): every commit on a change branch belongs to its change, and every move
of ``main`` its reflog records is one docctl step (or a sync that continues it) — a force-move, a
rewrite or a commit added with plain git shows here even when the commit itself looks right.

Both checks take only the commits to check: a whole history, or (issue 30) what came after the
last verified anchor, the reflog then read from where that verification stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.commits import Commit
from ..core.records import ACTIONS_ON_MAIN
from ..stores.git import ZERO_SHA, GitStore
from .report import Problem, Report

MAIN = "refs/heads/main"
SYNC_MOVE = "docctl: sync from the git remote"


@dataclass(frozen=True)
class ReflogMark:
    """Where a verification stopped reading main's reflog: its last line, and where it starts."""

    index: int
    start: int
    line: str

    def as_json(self) -> dict:
        return {"index": self.index, "start": self.start, "line": self.line}

    @classmethod
    def from_json(cls, data: dict) -> ReflogMark:
        return cls(int(data["index"]), int(data["start"]), str(data["line"]))


def check_change_branches(report: Report, store: GitStore, commits: dict[str, Commit], tips: dict[str, str]) -> None:
    """Each change branch's commits (those in ``commits``) carry its number and an Action, and
    start from a step on main. ``tips``: each change branch's ref → its commit."""
    bases: dict[str, tuple[str, str]] = {}  # a base outside ``commits`` → (change, ref)
    for ref, head in tips.items():
        number = ref.rsplit("/", 1)[1]
        cursor = commits.get(head)
        last = None
        while cursor is not None and cursor.trailer("Change") == number:
            if not cursor.trailer("Action"):
                report.problems.append(Problem(cursor.sha, f"a commit on change {number} without an Action"))
            last = cursor
            cursor = commits.get(cursor.parents[0]) if cursor.parents else None
        if cursor is not None and cursor.trailer("Change") not in (None, number) and cursor.sha == head:
            report.problems.append(Problem(head, f"{ref} points at a commit of change {cursor.trailer('Change')}"))
        elif cursor is not None and not _is_main_step(cursor):
            report.problems.append(Problem(cursor.sha, f"a commit on change {number} not recorded by docctl"))
        elif cursor is None and last is not None and last.parents:
            bases[last.parents[0]] = (number, ref)  # verified earlier: looked up below
    for sha, base in store.commits(sorted(bases)).items():
        if base.trailer("Change") != bases[sha][0] and not _is_main_step(base):
            report.problems.append(Problem(sha, f"a commit on change {bases[sha][0]} not recorded by docctl"))


def _is_main_step(commit: Commit) -> bool:
    """The base a change starts from: a commit on main (or, for an update, a release)."""
    return (commit.trailer("Action") or "") in ACTIONS_ON_MAIN


def check_reflog(
    report: Report, store: GitStore, main, *, since: tuple[str, ReflogMark] | None = None
) -> ReflogMark | None:
    """Check the moves of main against ``main`` (first parent, oldest first); with ``since``
    (the head verified last and where its reflog was read to), only the moves after it.
    Returns where the moves leading to ``main``'s last commit end, for the next verification."""
    add = report.problems.append
    position = {commit.sha: index for index, (commit, _) in enumerate(main)}
    parent = {commit.sha: (commit.parents[0] if commit.parents else ZERO_SHA) for commit, _ in main}
    if since is None:
        moves = store.reflog(MAIN)
        if not moves:
            add(Problem("", "main has no reflog: how it moved cannot be checked"))
            return None
    else:
        verified, mark = since
        moves = store.reflog(MAIN, start=mark.start, first_index=mark.index)
        if not moves or moves[0].line != mark.line:
            add(
                Problem(
                    verified,
                    f"the reflog of main no longer holds entry {mark.index}, read at the last verification: "
                    "its recorded moves were cut back or rewritten",
                )
            )
            return None
        moves = moves[1:]
        position[verified], parent[verified] = -1, None  # moving back to it is a jump like any other
    if main:  # moves made while this check ran (after main was read) are the next check's
        head = main[-1][0].sha
        last_to_head = max((i for i, move in enumerate(moves) if move.new == head), default=None)
        if last_to_head is not None and last_to_head + 1 < len(moves) and moves[last_to_head + 1].old == head:
            moves = moves[: last_to_head + 1]
    reached = set()
    for move in moves:
        where = f"reflog entry {move.index} ({move.message[:60] or 'no message'})"
        if not move.message.startswith("docctl"):
            add(Problem(move.new, f"main moved by something other than docctl: {where}"))
        if move.new not in position:
            add(Problem(move.new, f"main was moved to a commit no longer in its history (rewritten): {where}"))
            continue
        if move.message.startswith(SYNC_MOVE):
            # Brought from the git remote (issue 14): several steps recorded on another node,
            # whose own reflog attests each; here they must continue main, never replace it.
            cursor, steps = move.new, set()
            while cursor != move.old and cursor in parent:
                steps.add(cursor)
                cursor = parent[cursor]
            if cursor != move.old:
                add(Problem(move.new, f"a sync moved main to a commit that does not continue it: {where}"))
            reached |= steps
            continue
        if parent[move.new] != move.old:
            add(Problem(move.new, f"main jumped from {move.old[:10]} instead of moving one step: {where}"))
        reached.add(move.new)
    for commit, _ in main:
        if commit.sha not in reached:
            add(Problem(commit.sha, "on main without a recorded move of main to it (added outside docctl)"))
    if not main:
        return since[1] if since else None
    head = main[-1][0].sha
    if not moves or moves[-1].new != head:
        if since is None or moves:
            add(Problem(head, "main's last recorded move does not lead to its head"))
        return None
    last = moves[-1]
    return ReflogMark(last.index, last.start, last.line)
