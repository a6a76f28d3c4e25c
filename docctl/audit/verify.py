"""Verification of the whole history: does git show that nothing bypassed the workflow?

An auditor should trust docctl because they need not trust it: every rule below is checked from
git alone (plus the account journal for "did the signer hold that role then"), never from the
catalog or the search index, which are derived and could be wrong. The walk is two ``git log``
processes and one ``cat-file --batch`` (front matter of each released blob), so 40,000 releases
are checked in seconds, not a process per commit.

What is checked (issue 18), each problem named with its commit:
- every commit on ``main`` (first parent) is a docctl step: init, policy, release, withdrawal or
  review, with the trailers that step requires, touching only what that step may touch;
- revisions of a document are consecutive; a withdrawal names the revision it withdraws;
- a release merges the change it names, and the change's valid signatures meet the policy in force
  at that commit; no signer prepared or edited the change; every signer held the role (and the
  unit) they signed in at the time; every valid signature's ``Content`` is the blob released; the
  ``Approved-by`` trailers name exactly those signatures (a forged trailer shows);
- every commit on a change branch belongs to that change (``Change: <N>``, an ``Action``);
- the reflog of ``main``: each move is docctl's, one recorded step from the previous head, and
  every commit on ``main`` got there that way (a force-move, a rewrite or a commit added with plain
  git shows here even when the commit itself looks right);
- (issue 29) every commit's SSH signature; (issue 30) every anchored head still on ``main``, and
  the journals outside git recomputed against their chains and anchored heads.

Incremental (issue 30): after a verification that found nothing wrong, a verified anchor records
where it stopped (:mod:`docctl.audit.checkpoint`); the next one checks only the commits, reflog
lines and anchors that came after it, and only the change branches among a thousand of which one
moved — still recomputing both journals whole, and naming a
``main`` that no longer contains the head verified then — so it costs what changed, not the
length of the history. ``full=True`` (``docctl verify --full``) checks everything again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..core import allowed_signers
from ..core.changes import STEP_TRAILERS
from ..core.commits import Commit
from ..core.errors import DocctlError, NotFound
from ..stores.git import GitStore, bulk_load
from ..stores.journal import ChainRow
from ..workflow.anchors import ANCHORS
from .anchors import check_anchors
from .checkpoint import Checkpoint, branch_digests, branch_groups, last_verified, moved_branches, state_of
from .journals import check_chain, unreleased_confirmations
from .line_changes import changes as line_changes
from .moves import MAIN, check_change_branches, check_reflog
from .report import Problem, Report
from .signatures import signatures_beside
from .steps import AccountHistory, MainState, check_main, front_matter

__all__ = ["AccountHistory", "Problem", "Report", "verify"]

MOST_TIPS_NAMED = 5000


def verify(
    store: GitStore,
    accounts: AccountHistory | None = None,
    *,
    journals: dict[str, list[ChainRow]] | None = None,
    progress: Callable[[str], None] = lambda _: None,
    full: bool = True,
    instance_key: bytes | None = None,
) -> Report:
    """Check the history; returns a :class:`Report` (``ok`` only when every rule holds).
    ``journals``: the chained records outside git, by name (read confirmations, account events).
    Without ``full``, only what came after the last verified anchor that ``instance_key`` (the
    raw public key of this instance) signed; the whole history when there is none."""
    since, why = (None, "--full asked") if full else last_verified(store, instance_key)
    with bulk_load():  # a million objects held: cyclic GC passes tripled the time
        report = _verify(store, accounts, journals or {}, progress, since)
    if not full and since is None:
        report.notes.insert(0, f"the whole history was checked: {why}")
    return report


def _verify(
    store: GitStore,
    accounts: AccountHistory | None,
    journals: dict[str, list[ChainRow]],
    progress: Callable[[str], None],
    since: Checkpoint | None,
) -> Report:
    report = Report()
    # The anchors are read before main: one written meanwhile names a head this check has not
    # read, and is the next check's.
    anchors_head = _head(store, ANCHORS)
    try:
        main_head = store.head(MAIN)
    except DocctlError as exc:
        report.problems.append(Problem("", f"main cannot be read: {exc}"))
        return report
    if since is not None and since.main != main_head and not store.is_ancestor(since.main, main_head):
        report.problems.append(
            Problem(
                since.main,
                f"main no longer contains {since.main[:12]}, verified on {since.at.date()}: "
                "main was moved back or rewritten (the whole history checked again)",
            )
        )
        since = None
    if since is not None:
        report.mode, report.since, report.since_at = "incremental", since.main, since.at.isoformat()
        report.skipped = since.commits
    excluded = [since.main] if since else None
    heads = [main_head, *([anchors_head] if anchors_head else [])]  # anchors are signed commits too
    # Read after main: a branch moved since is walked at its newer tip, and recorded as read here.
    tips = store.refs("refs/heads/changes/")
    groups = branch_groups(tips)
    digests = branch_digests(tips, groups)
    moved = moved_branches(tips, groups, digests, since.branches) if since else tips
    report.advanced = since is None or since.main != main_head or since.branches != digests
    glob = len(moved) > MOST_TIPS_NAMED  # a command line holds a few thousand; git reads the rest
    # The walks in parallel: every commit (for the signatures), and main's own line with whole
    # messages. What each commit of main changed is then foretold from its trailers and proven
    # by its folder's hash, git comparing only the others (audit/line_changes.py): at 20,000
    # documents git compared two 800 KB folders for each of 200,000 releases (175 s). The
    # signatures are checked by a forked process as soon as every commit is read, beside the
    # rest (they need of main only its line and the commits that listed signers, read apart).
    with ThreadPoolExecutor(max_workers=2) as pool:
        everything = pool.submit(
            lambda: {
                c.sha: c
                for c, _ in store.walk(
                    heads + ([] if glob else sorted(set(moved.values()))),
                    change_branches=glob,
                    bodies=False,
                    keep=STEP_TRAILERS,
                    since=[*excluded, *([since.anchors_read] if since.anchors_read else [])] if since else None,
                )
            }
        )
        signatures = None
        try:
            on_line = pool.submit(lambda: [c for c, _ in store.walk([main_head], first_parent=True, since=excluded)])
            keys = list(
                store.walk([main_head], first_parent=True, paths=True, since=excluded, pathspec=(allowed_signers.PATH,))
            )
            commits = everything.result()
            line = _first_parent_line(commits, main_head, keys)
            signatures = signatures_beside(store, line, commits, since.signing if since else None)
            main = line_changes(store, on_line.result()[::-1], commits)
            progress(f"{len(main)} commits on main (first parent)" + (" since the last verification" if since else ""))
        except DocctlError as exc:
            if signatures is not None:
                with contextlib.suppress(Exception):
                    signatures()  # the forked check ends with the verification
            report.problems.append(Problem("", f"main cannot be read: {exc}"))
            return report
    if _signers_seen(main) != _signers_seen(line):  # never in practice: then checked as main says
        with contextlib.suppress(Exception):
            signatures()  # its answer, from what it was given, is not used
        signatures = signatures_beside(store, main, commits, since.signing if since else None)
    report.commits = len(commits)
    progress(f"{len(commits)} commits in all" + (f"; {since.commits} verified before, skipped" if since else ""))
    blobs = front_matter(store, main)
    progress(f"{len(blobs)} released texts read")
    state = since.main_state if since else MainState()
    check_main(report, store, main, commits, blobs, accounts, state, from_start=since is None)
    progress(f"{report.releases} releases and withdrawals, {report.signatures} signatures checked")
    check_change_branches(report, store, commits, tips)
    mark = check_reflog(report, store, main, since=(since.main, since.reflog) if since and since.reflog else None)
    progress("change branches and the reflog of main checked")
    anchored, notes, journal_heads = check_anchors(
        store,
        main,
        head=anchors_head,
        until=since.anchors_read if since else None,
        verified=since.main if since else None,
    )
    report.problems += [Problem(sha, problem) for sha, problem in anchored]
    report.notes += notes
    _check_journals(report, journals, journal_heads, state)
    signed = signatures()
    report.problems += [Problem(sha, problem) for sha, problem in signed.problems]
    report.notes += signed.notes
    report.signed_commits, report.signed_from = signed.checked, signed.signed_from
    progress(f"{signed.checked} commit signatures checked")
    if since is not None:
        report.notes.insert(
            0,
            f"incremental: {since.commits} commits up to {since.main[:12]}, verified on {since.at.date()}, "
            "were not checked again (docctl verify --full checks them)",
        )
    if report.ok and mark is not None:
        report.state = state_of(
            main_head,
            anchors_head,
            mark,
            state,
            signed.state,
            report.commits + report.skipped,
            digests,
        )
    return report


def _first_parent_line(commits: dict[str, Commit], head: str, keys: list) -> list:
    """Main's line, oldest first, as (commit, paths) — the paths only for the commits in
    ``keys`` (those that changed the allowed signers), which is all the signature check reads."""
    changed = {commit.sha: (commit, paths) for commit, paths in keys}
    line, sha = [], head
    while (commit := commits.get(sha)) is not None:
        line.append(changed.get(sha, (commit, {})))
        sha = commit.parents[0] if commit.parents else ""
    return line[::-1]


def _signers_seen(main: list) -> tuple[list[str], list[tuple[str, str | None]]]:
    """What the signature check reads of main: its line, and each change of the signers' file."""
    path = allowed_signers.PATH
    return [c.sha for c, _ in main], [(c.sha, paths[path]) for c, paths in main if path in paths]


def _check_journals(report: Report, journals: dict[str, list[ChainRow]], heads: dict, state: MainState) -> None:
    """Each journal recomputed whole against its chain and the heads anchored; a confirmation
    must name a revision git released."""
    released = state.released_revisions()
    for name, rows in journals.items():
        report.problems += [Problem("", problem) for problem in check_chain(name, rows, heads.get(name, []))]
        if name == "confirmations":
            report.problems += [Problem("", problem) for problem in unreleased_confirmations(rows, released)]
        chained = sum(1 for row in rows if row.row_hash)
        report.notes.append(
            f"{name}: {chained} chained rows checked"
            + (f", {len(rows) - chained} from before the chain" if len(rows) > chained else "")
        )


def _head(store: GitStore, ref: str) -> str | None:
    try:
        return store.head(ref)
    except NotFound:
        return None
