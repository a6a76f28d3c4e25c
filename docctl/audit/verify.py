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
  git shows here even when the commit itself looks right).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from ..core import allowed_signers, signing
from ..core.changes import EDIT_ACTIONS, STEP_TRAILERS, read_events
from ..core.commits import Commit
from ..core.documents import DOCUMENTS_DIR, parse_document
from ..core.errors import DocctlError
from ..core.figures import NAME_RE
from ..core.policy import POLICY_PATH, Policy, parse_policy
from ..core.records import ACTIONS_ON_MAIN, Signature
from ..stores.git import ZERO_SHA, GitStore, bulk_load
from ..stores.journal import ChainRow
from ..workflow.anchors import ANCHORS
from .anchors import check_anchors
from .journals import check_chain, unreleased_confirmations
from .signatures import signatures_beside

MAIN = "refs/heads/main"
SYNC_MOVE = "docctl: sync from the git remote"
RELEASE_TRAILERS = ("Document", "Revision", "Change", "Effective-Date", "Change-Reason", "Approved-by", "Signature")
REVIEW_TRAILERS = ("Document", "Revision", "Signature")


@dataclass(frozen=True)
class Problem:
    commit: str
    problem: str
    document_id: str | None = None

    def as_json(self) -> dict:
        data = {"commit": self.commit, "problem": self.problem}
        if self.document_id:
            data["document_id"] = self.document_id
        return data


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    commits: int = 0
    releases: int = 0
    signatures: int = 0
    migrations: int = 0  # documents brought in as approved on paper (issue 13)
    signed_commits: int = 0  # commits whose git SSH signature was checked (issue 29)
    signed_from: str | None = None  # the first signed commit: earlier history predates signing
    notes: list[str] = field(default_factory=list)  # facts for the auditor, not problems

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "checked": {
                "commits": self.commits,
                "releases": self.releases,
                "signatures": self.signatures,
                "migrations": self.migrations,
                "signed_commits": self.signed_commits,
            },
            "signed_from": self.signed_from,
            "notes": self.notes,
            "problems": [p.as_json() for p in self.problems],
        }


class AccountHistory:
    """Who held which role and unit when, from the accounts and their append-only journal.

    Roles live in the accounts database, not in git; what a signer held "then" is: the account
    existed, and the role (unit) is held now and was not granted only after the signature, or
    was granted before it. A role removed since leaves no trace to contradict, so it is believed.
    """

    def __init__(self, people: Iterable, created: dict[str, datetime], grants: Iterable[dict]) -> None:
        self.people = {p.login: p for p in people}
        self.created = created
        self.granted: dict[tuple[str, str], list[datetime]] = {}
        for event in grants:
            if event["event"] == "grant":  # `docctl user grant`: "role quality_manager, unit OR"
                items = event["detail"].split(", ")
            elif event["event"] == "changed":  # /admin/users: "+role approver; -unit FN; …"
                items = [i[1:] for i in event["detail"].split("; ") if i.startswith("+")]
            else:
                continue
            for item in items:
                kind, _, value = item.partition(" ")
                self.granted.setdefault((event["login"], f"{kind}:{value}"), []).append(
                    datetime.fromisoformat(event["at"])
                )

    def lacked(self, login: str, role: str, unit: str | None, at: datetime) -> str | None:
        person = self.people.get(login)
        if person is None:
            return f"signer {login or '(no login)'} is not a known account"
        created = self.created.get(login)
        if created is not None and created > at:
            return f"signer {login}'s account was created after the signature ({created.date()})"
        for key, label in ((f"role:{role}", f"role {role}"), (f"unit:{unit}", f"unit {unit}")):
            if unit is None and key.startswith("unit:"):
                continue
            grants = self.granted.get((login, key), [])
            if grants and min(grants) > at:
                return f"signer {login} was given {label} only on {min(grants).date()}, after signing"
        return None


def verify(
    store: GitStore,
    accounts: AccountHistory | None = None,
    *,
    journals: dict[str, list[ChainRow]] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Check the whole history; returns a :class:`Report` (``ok`` only when every rule holds).
    ``journals``: the chained records outside git, by name (read confirmations, account events)."""
    with bulk_load():  # a million objects held: cyclic GC passes tripled the time
        return _verify(store, accounts, journals or {}, progress)


def _verify(
    store: GitStore,
    accounts: AccountHistory | None,
    journals: dict[str, list[ChainRow]],
    progress: Callable[[str], None],
) -> Report:
    report = Report()
    heads = [MAIN, *([ANCHORS] if store.has_ref(ANCHORS) else [])]  # anchors are signed commits too
    # The two walks in parallel: each git process has a core while Python parses the other.
    with ThreadPoolExecutor(max_workers=1) as pool:
        everything = pool.submit(
            lambda: {c.sha: c for c, _ in store.walk(heads, change_branches=True, bodies=False, keep=STEP_TRAILERS)}
        )
        try:
            main = list(store.walk([MAIN], first_parent=True, paths=True))[::-1]
            progress(f"{len(main)} commits on main (first parent)")
            commits = everything.result()
        except DocctlError as exc:
            report.problems.append(Problem("", f"main cannot be read: {exc}"))
            return report
    report.commits = len(commits)
    progress(f"{len(commits)} commits in all")
    signatures = signatures_beside(store, main, commits)
    blobs = _front_matter(store, main)
    progress(f"{len(blobs)} released texts read")
    _check_main(report, store, main, commits, blobs, accounts)
    progress(f"{report.releases} releases and withdrawals, {report.signatures} signatures checked")
    _check_change_branches(report, store, commits)
    _check_reflog(report, store, main)
    progress("change branches and the reflog of main checked")
    anchored, notes, heads = check_anchors(store, main)
    report.problems += [Problem(sha, problem) for sha, problem in anchored]
    report.notes += notes
    released = {
        (c.trailer("Document"), int(c.trailer("Revision") or 0))
        for c, _ in main
        if c.trailer("Action") in ("release", "migrate")
    }
    for name, rows in journals.items():
        report.problems += [Problem("", problem) for problem in check_chain(name, rows, heads.get(name, []))]
        if name == "confirmations":
            report.problems += [Problem("", problem) for problem in unreleased_confirmations(rows, released)]
        chained = sum(1 for row in rows if row.row_hash)
        report.notes.append(
            f"{name}: {chained} chained rows checked"
            + (f", {len(rows) - chained} from before the chain" if len(rows) > chained else "")
        )
    signed = signatures()
    report.problems += [Problem(sha, problem) for sha, problem in signed.problems]
    report.notes += signed.notes
    report.signed_commits, report.signed_from = signed.checked, signed.signed_from
    progress(f"{signed.checked} commit signatures checked")
    return report


def _front_matter(store: GitStore, main) -> dict[str, tuple[str, str, str] | None]:
    """Released blob → (id, type, unit) from its front matter; None when it does not parse."""
    wanted = sorted(
        {
            blob
            for _, changed in main
            for path, blob in changed.items()
            if blob and path.startswith(DOCUMENTS_DIR + "/") and path.endswith(".md")
        }
    )
    return {sha: _id_type_unit(data) for sha, data in store.blobs(wanted)}


_FRONT = re.compile(rb"\A---\n(.*?)\n---\n", re.S)
_FIELD = re.compile(rb"^(id|type|unit): ([A-Za-z0-9_-]+)$", re.M)


def _id_type_unit(data: bytes) -> tuple[str, str, str] | None:
    """(id, type, unit) of a released text: plain scalars read directly from the front matter
    as docctl writes it (YAML for 40,000 texts cost 6 s), the full parser for anything else."""
    front = _FRONT.match(data)
    fields = dict(_FIELD.findall(front.group(1))) if front else {}
    if len(fields) == 3:
        return fields[b"id"].decode(), fields[b"type"].decode(), fields[b"unit"].decode()
    try:
        meta = parse_document(data.decode("utf-8")).meta
    except (DocctlError, UnicodeDecodeError):
        return None
    return meta.id, meta.type, meta.unit


def _check_main(report: Report, store: GitStore, main, commits: dict[str, Commit], blobs, accounts) -> None:
    policy: Policy | None = None
    revisions: dict[str, int] = {}
    meta_of: dict[str, tuple[str, str]] = {}
    released: dict[str, str | None] = {}
    withdrawn: set[str] = set()
    add = report.problems.append
    for index, (commit, changed) in enumerate(main):
        action = commit.trailer("Action") or ""
        if index == 0:
            if action != "init" or commit.parents:
                add(Problem(commit.sha, "the first commit on main is not docctl's initialization"))
        elif action == "init":
            add(Problem(commit.sha, "a second initialization on main"))
        if action not in ACTIONS_ON_MAIN:
            add(Problem(commit.sha, f"not a docctl step (Action {action or 'missing'}): {commit.subject[:80]}"))
            continue
        if action in ("init", "policy", "keys"):
            others = [p for p in changed if p not in (POLICY_PATH, allowed_signers.PATH)]
            if others:
                add(Problem(commit.sha, f"a policy commit changes documents: {', '.join(sorted(others)[:3])}"))
            if POLICY_PATH in changed and changed[POLICY_PATH] is not None:
                policy = _policy_at(report, store, commit, changed[POLICY_PATH], policy)
            continue
        doc_id = commit.trailer("Document")
        if action == "review":
            _check_review(report, commit, changed, doc_id, revisions, withdrawn)
            continue
        if action == "migrate":
            if _check_migration(report, commit, changed, doc_id, revisions, blobs, accounts):
                revisions[doc_id] = 1
                released[doc_id] = changed.get(f"{DOCUMENTS_DIR}/{doc_id}.md")
                front = blobs.get(released[doc_id])
                if front:
                    meta_of[doc_id] = (front[1], front[2])
            continue
        report.releases += 1
        missing = [key for key in RELEASE_TRAILERS if not commit.trailer(key)]
        if missing:
            add(Problem(commit.sha, f"{action} without required trailers: {', '.join(missing)}", doc_id))
        if not doc_id:
            continue
        path = f"{DOCUMENTS_DIR}/{doc_id}.md"
        revision = commit.trailer("Revision") or ""
        number = int(revision) if revision.isdigit() else None
        last = revisions.get(doc_id, 0)
        blob = None
        if action == "release":
            # An unchanged text leaves no diff: the blob released is then the one already there.
            blob = changed[path] if path in changed else released.get(doc_id)
            others = sorted(set(changed) - {path} - _figure_paths(report, commit, changed, doc_id))
            if others:
                add(Problem(commit.sha, f"the release of {doc_id} also changes {', '.join(others[:3])}", doc_id))
            if blob is None:
                add(Problem(commit.sha, f"the release of {doc_id} leaves no {path} on main", doc_id))
            released[doc_id] = blob
            expected = last + 1
            if number != expected:
                add(Problem(commit.sha, f"revision {revision} of {doc_id} follows revision {last}", doc_id))
            front = blobs.get(blob) if blob else None
            if blob and front is None:
                add(Problem(commit.sha, f"the released {path} has no valid front matter", doc_id))
            elif front:
                if front[0] != doc_id:
                    add(Problem(commit.sha, f"{path} says it is {front[0]}", doc_id))
                meta_of[doc_id] = (front[1], front[2])
            revisions[doc_id] = number or expected
            withdrawn.discard(doc_id)
        else:
            figures = {p for p in _figure_paths(report, commit, changed, doc_id) if changed[p] is None}
            if set(changed) - figures != {path} or changed.get(path) is not None:
                add(Problem(commit.sha, f"the withdrawal of {doc_id} does not remove exactly {path}", doc_id))
            if number != last:
                add(Problem(commit.sha, f"the withdrawal names revision {revision}; {doc_id} is at {last}", doc_id))
            withdrawn.add(doc_id)
        doc_type, unit = meta_of.get(doc_id, ("", ""))
        _check_signatures(report, commit, commits, doc_id, doc_type, unit, blob, policy, accounts)


MIGRATION_TRAILERS = ("Document", "Revision", "Effective-Date", "Paper-Record", "Paper-Approved-by", "Signature")


def _check_migration(report, commit, changed, doc_id, revisions, blobs, accounts) -> bool:
    """A document approved on paper, brought in as revision 1 (issue 13): it must be new to
    docctl, name its paper record and approvers, and carry a quality manager's attestation of
    the exact text — an electronic signature given by someone who held that role then."""
    add = report.problems.append
    report.migrations += 1
    missing = [key for key in MIGRATION_TRAILERS if not commit.trailer(key)]
    if missing or not doc_id:
        add(Problem(commit.sha, f"migration without required trailers: {', '.join(missing)}", doc_id))
        return False
    path = f"{DOCUMENTS_DIR}/{doc_id}.md"
    ok = True
    if revisions.get(doc_id):
        add(Problem(commit.sha, f"{doc_id} was migrated from paper although docctl already had it", doc_id))
        ok = False
    if commit.trailer("Revision") != "1":
        add(Problem(commit.sha, f"the migration of {doc_id} is not revision 1", doc_id))
    others = sorted(set(changed) - {path} - _figure_paths(report, commit, changed, doc_id))
    if others or not changed.get(path):
        add(Problem(commit.sha, f"the migration of {doc_id} changes {', '.join(others[:3]) or 'no text'}", doc_id))
        ok = False
    if blobs.get(changed.get(path)) is None:
        add(Problem(commit.sha, f"the migrated {path} has no valid front matter", doc_id))
    try:
        attestation = Signature.from_trailer(commit.trailer("Signature") or "")
    except ValueError:
        add(Problem(commit.sha, f"the attestation of {doc_id}'s migration cannot be read", doc_id))
        return ok
    if (attestation.meaning, attestation.role) != ("attestation", "quality_manager"):
        add(Problem(commit.sha, f"{doc_id} was migrated without a quality manager's attestation", doc_id))
    if commit.trailer("Content") != changed.get(path):
        add(Problem(commit.sha, f"the attestation of {doc_id} covers other content than the migrated text", doc_id))
    if accounts is not None:
        lacked = accounts.lacked(commit.trailer("Actor") or "", "quality_manager", None, attestation.signed_at)
        if lacked:
            add(Problem(commit.sha, lacked, doc_id))
    report.signatures += 1
    return ok


def _figure_paths(report: Report, commit: Commit, changed: dict, doc_id: str) -> set[str]:
    """The figure files (``documents/<ID>/<blob id>.<ext>``, README) a release or withdrawal
    changes; a figure whose content is not what its name says is a problem: its text's signature
    binds the name."""
    folder = f"{DOCUMENTS_DIR}/{doc_id}/"
    found = set()
    for changed_path, blob in changed.items():
        name = changed_path[len(folder) :] if changed_path.startswith(folder) else ""
        if not NAME_RE.fullmatch(name):
            continue
        found.add(changed_path)
        if blob is not None and blob != name.split(".", 1)[0]:
            report.problems.append(Problem(commit.sha, f"{changed_path} does not hold what its name says", doc_id))
    return found


def _policy_at(report: Report, store: GitStore, commit: Commit, blob: str, previous: Policy | None) -> Policy | None:
    try:
        return parse_policy(store.read_blob(blob))
    except DocctlError as exc:
        report.problems.append(Problem(commit.sha, f"the policy file does not parse: {exc}"))
        return previous


def _check_review(report, commit, changed, doc_id, revisions, withdrawn) -> None:
    add = report.problems.append
    missing = [key for key in REVIEW_TRAILERS if not commit.trailer(key)]
    if missing:
        add(Problem(commit.sha, f"review without required trailers: {', '.join(missing)}", doc_id))
    if changed:
        add(Problem(commit.sha, "a review changes files (a review records no new content)", doc_id))
    if doc_id and (doc_id not in revisions or doc_id in withdrawn):
        add(Problem(commit.sha, f"a review of {doc_id}, which has no revision in force", doc_id))
    elif doc_id and commit.trailer("Revision") != str(revisions[doc_id]):
        add(Problem(commit.sha, f"the review names revision {commit.trailer('Revision')} of {doc_id}", doc_id))


def _check_signatures(report, commit, commits, doc_id, doc_type, unit, blob, policy, accounts) -> None:
    add = report.problems.append
    change_no = commit.trailer("Change") or ""
    if len(commit.parents) != 2:
        add(Problem(commit.sha, f"the release of {doc_id} is not a merge of change {change_no}", doc_id))
        return
    own = []
    cursor = commits.get(commit.parents[1])
    while cursor is not None and cursor.trailer("Change") == change_no:
        own.append(cursor)
        cursor = commits.get(cursor.parents[0]) if cursor.parents else None
    if not own:
        add(Problem(commit.sha, f"the merged branch is not change {change_no}", doc_id))
        return
    own.reverse()
    events = read_events(own)
    editors = {e.actor_login for e in events if e.action in EDIT_ACTIONS}
    valid = [e for e in events if e.action == "approve" and not e.voided and e.signature]
    report.signatures += len(valid)
    withdrawal = commit.trailer("Action") == "withdraw"
    content = _first_content(events) if withdrawal else blob
    for event in valid:
        sig = event.signature
        who = f"{sig.name} <{sig.email}>"
        if event.actor_login in editors:
            add(Problem(event.commit, f"{who} signed change {change_no} after preparing or editing it", doc_id))
        if content and event.content != content:
            add(
                Problem(
                    event.commit, f"{who} signed content {event.content[:10]}, not the released {content[:10]}", doc_id
                )
            )
        if policy is not None:
            requirement = next(
                (r for r in policy.requirements_for(doc_type) if (r.role, r.meaning) == (sig.role, sig.meaning)), None
            )
            if requirement is None and doc_type:
                add(Problem(event.commit, f"{who} signed as {sig.role} ({sig.meaning}), not a role {doc_type} needs"))
            if accounts is not None:
                scoped_unit = unit if requirement is not None and requirement.unit_scoped else None
                lacked = accounts.lacked(event.actor_login, sig.role, scoped_unit, event.at)
                if lacked:
                    add(Problem(event.commit, lacked, doc_id))
    if policy is not None and doc_type:
        outstanding = signing.outstanding(policy, doc_type, unit, SimpleNamespace(signatures=tuple(valid)))
        for requirement in outstanding:
            add(Problem(commit.sha, f"released without the signature required: {requirement.describe(unit)}", doc_id))
    signed = sorted(f"{e.signature.name} <{e.signature.email}>" for e in valid)
    approved = sorted(commit.trailer_values("Approved-by"))
    if approved != signed:
        extra = sorted(set(approved) - set(signed))
        add(
            Problem(
                commit.sha,
                f"Approved-by names {', '.join(extra) or 'fewer people'} beyond the valid signatures on change "
                f"{change_no} ({', '.join(signed) or 'none'})",
                doc_id,
            )
        )


def _first_content(events) -> str:
    return next((e.content for e in events if e.content), "")


def _check_change_branches(report: Report, store: GitStore, commits: dict[str, Commit]) -> None:
    for ref, head in store.refs("refs/heads/changes/").items():
        number = ref.rsplit("/", 1)[1]
        cursor = commits.get(head)
        while cursor is not None and cursor.trailer("Change") == number:
            if not cursor.trailer("Action"):
                report.problems.append(Problem(cursor.sha, f"a commit on change {number} without an Action"))
            cursor = commits.get(cursor.parents[0]) if cursor.parents else None
        if cursor is not None and cursor.trailer("Change") not in (None, number) and cursor.sha == head:
            report.problems.append(Problem(head, f"{ref} points at a commit of change {cursor.trailer('Change')}"))
        elif cursor is not None and not _is_main_step(cursor):
            report.problems.append(Problem(cursor.sha, f"a commit on change {number} not recorded by docctl"))


def _is_main_step(commit: Commit) -> bool:
    """The base a change starts from: a commit on main (or, for an update, a release)."""
    return (commit.trailer("Action") or "") in ACTIONS_ON_MAIN


def _check_reflog(report: Report, store: GitStore, main) -> None:
    add = report.problems.append
    moves = store.reflog(MAIN)
    if not moves:
        add(Problem("", "main has no reflog: how it moved cannot be checked"))
        return
    position = {commit.sha: index for index, (commit, _) in enumerate(main)}
    parent = {commit.sha: (commit.parents[0] if commit.parents else ZERO_SHA) for commit, _ in main}
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
    if moves[-1].new != main[-1][0].sha:
        add(Problem(main[-1][0].sha, "main's last recorded move does not lead to its head"))
