"""The steps on ``main`` checked one by one (issue 18): each a docctl step with the trailers it
requires, revisions consecutive, releases merging their change with the signatures the policy
in force asks of people who held those roles then.

What the walk carries from one commit to the next — the policy in force, each document's last
revision, released text, type and unit — is a :class:`MainState`, so an incremental verification
(issue 30) starts from the state a verified anchor recorded instead of from the first commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from ..core import allowed_signers, signing
from ..core.changes import EDIT_ACTIONS, read_events
from ..core.commits import Commit
from ..core.documents import DOCUMENTS_DIR, parse_document
from ..core.errors import DocctlError
from ..core.figures import NAME_RE
from ..core.policy import POLICY_PATH, Policy, parse_policy
from ..core.records import ACTIONS_ON_MAIN, Signature
from ..stores.git import GitStore
from .report import Problem, Report

RELEASE_TRAILERS = ("Document", "Revision", "Change", "Effective-Date", "Change-Reason", "Approved-by", "Signature")
REVIEW_TRAILERS = ("Document", "Revision", "Signature")


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


@dataclass
class MainState:
    """What the walk of ``main`` knows after a commit: enough to check the next one."""

    policy_blob: str | None = None
    policy: Policy | None = None
    revisions: dict[str, int] = field(default_factory=dict)  # the last revision of each document
    meta_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # (type, unit)
    released: dict[str, str | None] = field(default_factory=dict)  # the blob in force (or last)
    withdrawn: set[str] = field(default_factory=set)

    def released_revisions(self) -> set[tuple[str, int]]:
        """Every (document, revision) ever released or migrated: revisions are consecutive."""
        return {(doc, number) for doc, last in self.revisions.items() for number in range(1, last + 1)}

    def as_json(self) -> dict:
        return {
            "policy": self.policy_blob,
            "documents": {
                doc: [last, self.released.get(doc), *self.meta_of.get(doc, ("", "")), doc in self.withdrawn]
                for doc, last in sorted(self.revisions.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict, store: GitStore) -> MainState:
        state = cls(policy_blob=data.get("policy"))
        if state.policy_blob:
            state.policy = parse_policy(store.read_blob(state.policy_blob))
        for doc, (last, blob, doc_type, unit, withdrawn) in data["documents"].items():
            state.revisions[doc] = int(last)
            state.released[doc] = blob
            if doc_type or unit:
                state.meta_of[doc] = (doc_type, unit)
            if withdrawn:
                state.withdrawn.add(doc)
        return state


def front_matter(store: GitStore, main) -> dict[str, tuple[str, str, str] | None]:
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


def check_main(
    report: Report,
    store: GitStore,
    main,
    commits: dict[str, Commit],
    blobs,
    accounts,
    state: MainState,
    *,
    from_start: bool = True,
) -> None:
    """Check ``main``'s commits (first parent, oldest first, with the paths each changed) from
    ``state`` on, updating it; ``from_start``: the first of them must be the initialization."""
    revisions, meta_of, released, withdrawn = state.revisions, state.meta_of, state.released, state.withdrawn
    add = report.problems.append
    for index, (commit, changed) in enumerate(main):
        action = commit.trailer("Action") or ""
        if index == 0 and from_start:
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
                parsed = _policy_at(report, store, commit, changed[POLICY_PATH], state.policy)
                if parsed is not state.policy:  # one that does not parse leaves the last in force
                    state.policy, state.policy_blob = parsed, changed[POLICY_PATH]
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
        _check_signatures(report, commit, commits, doc_id, doc_type, unit, blob, state.policy, accounts)


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
