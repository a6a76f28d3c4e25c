"""Signatures that prove themselves (issue 29): every commit's git SSH signature checked in-process.

From the commit that first lists ``.docctl/allowed_signers`` on ``main`` on ("signing began"),
every commit on ``main`` and on the change branches must carry a signature (its ``gpgsig``
header) that matches the commit, made by a key that the file lists as valid at the commit's time:

- a signature step — ``approve`` on a change branch, ``review`` and ``migrate`` on ``main`` — by
  the key of the person its ``Signature`` trailer names, never the instance's;
- every other commit by the instance's key (the principal of the first key listed, the root of
  trust, and the keys later listed under it);
- a commit that changes ``allowed_signers`` is an ``Action: keys`` (or ``init``) commit signed by
  the instance: a key added with plain git is named.

The same checks ``git verify-commit`` makes with the file (``gpg.ssh.allowedSignersFile``), done
without a process per commit: the raw objects come through one ``cat-file --batch``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core import allowed_signers
from ..core.allowed_signers import SignerKey
from ..core.commits import Commit, split_signature
from ..core.errors import DocctlError
from ..core.records import Signature
from ..core.sshsig import BadSignature, fingerprint
from ..core.sshsig import verify as verify_signature
from ..stores.git import GitStore

SIGNATURE_STEPS_ON_MAIN = ("review", "migrate")
# From this many commits on, the signature pass runs in a second process beside the other checks
# (Ed25519 in OpenSSL holds the GIL: a thread would not help).
BESIDE_FROM = 20_000
# The commits are shared out this many at a time: the child takes them from the start, and the
# parent takes its turn once its own checks are done, so both end together however long those
# took (a fixed share left one waiting for the other: 34 s at 20,000 x 10, 5 s at 2,000 x 20).
CHUNK = 4096


@dataclass
class SigningState:
    """What the signature check knows after a commit (issue 30: a verified anchor records it, so
    an incremental check goes on from there): where signing began, the instance's principal,
    the keys trusted by then, and the keys the last ``allowed_signers`` listed."""

    start: str
    begun: datetime
    instance: str
    trusted: list[SignerKey]
    listed: set[str]

    def as_json(self) -> dict:
        return {
            "start": self.start,
            "begun": self.begun.isoformat(),
            "instance": self.instance,
            "trusted": [entry.line() for entry in self.trusted],
            "listed": sorted(self.listed),
        }

    @classmethod
    def from_json(cls, data: dict) -> SigningState:
        return cls(
            start=data["start"],
            begun=datetime.fromisoformat(data["begun"]),
            instance=data["instance"],
            trusted=allowed_signers.parse("\n".join(data["trusted"])),
            listed=set(data["listed"]),
        )


@dataclass
class SignatureReport:
    problems: list[tuple[str, str]] = field(default_factory=list)  # (commit, problem)
    notes: list[str] = field(default_factory=list)
    checked: int = 0
    signed_from: str | None = None
    state: SigningState | None = None


def check_signatures(
    store: GitStore,
    main: list[tuple[Commit, dict]],
    commits: dict[str, Commit],
    since: SigningState | None = None,
    claim: Callable[[int], int | None] | None = None,
    *,
    first: bool = True,
) -> SignatureReport:
    """``main``: its first-parent commits oldest first with the paths each changed;
    ``commits``: every commit of main and the change branches (trailers ``Action`` and
    ``Signature`` at least). ``since``: the state a verified anchor recorded — ``main`` and
    ``commits`` are then only what came after it. ``claim(count)``: the start of the next
    :data:`CHUNK` of the commits to check that no one took yet (None: all taken), when two
    processes share them out; ``first``: this process reports the keys commits and the notes
    (the other one does not)."""
    report = SignatureReport()
    path = allowed_signers.PATH
    versions = [(c, changed[path]) for c, changed in main if path in changed]
    texts = dict(store.blobs(sorted({blob for _, blob in versions if blob})))
    raws = dict(store.blobs([c.sha for c, _ in versions]))
    judged: dict[str, str | None] = {}
    if since is None:
        if not versions:
            report.notes.append("no commit is signed: the whole history is from before signing (issue 29)")
            return report
        start, blob = versions.pop(0)
        root_keys = _parse(texts.get(blob, b""), report, start.sha)
        if not root_keys:
            report.problems.append((start.sha, "the first allowed_signers lists no key"))
            return report
        state = SigningState(
            start.sha, start.committed_at, root_keys[0].principal, root_keys, {e.key for e in root_keys}
        )
        judged[start.sha] = _check_one(
            commits.get(start.sha, start), raws[start.sha], _by_raw(root_keys), state.instance, True, True
        )
    else:
        state = SigningState(since.start, since.begun, since.instance, list(since.trusted), set(since.listed))
    report.signed_from, report.state = state.start, state
    first_key = state.trusted[0] if state.trusted else None
    report.notes.append(
        f"signed from commit {state.start[:12]} on ({state.begun.date()}); the instance key "
        f"{fingerprint(first_key.raw) if first_key else '?'} of {state.instance} first listed there"
    )
    # Trust grows one docctl keys commit at a time: each must be signed by the instance with a
    # key already trusted before it; what another commit lists is named and never trusted.
    for commit, blob in versions:
        problem = _check_one(
            commits.get(commit.sha, commit), raws[commit.sha], _by_raw(state.trusted), state.instance, True, True
        )
        entries = _parse(texts.get(blob, b""), report, commit.sha) if blob else []
        added = {e.key for e in entries} - state.listed
        state.listed = {e.key for e in entries}
        known = {e.key for e in state.trusted}
        if problem is None:  # a docctl keys commit: what it adds is trusted, and nothing else new
            state.trusted = [e for e in entries if e.key in known or e.key in added]
        else:
            for entry in entries:
                if entry.key in added:
                    problem += f"; the key it lists for {entry.principal} is not trusted"
        judged[commit.sha] = problem
    trusted = _by_raw(state.trusted)
    on_main = {c.sha for c, _ in main}
    if since is None:
        # Signed must be: every commit that descends from where signing began (all of main after
        # it, every change opened since), and anything else dated since. What signing began on —
        # its ancestors — is not; nor are the steps of changes from before, dated before it.
        begun_at = commits.get(state.start)
        before = _ancestors(begun_at, commits) if begun_at else set()
        after = _descendants(begun_at, commits) if begun_at else set()
        wanted = [
            sha
            for sha, c in commits.items()
            if sha not in before and sha not in judged and (sha in after or c.committed_at >= state.begun)
        ]
    else:
        # After a verified anchor nothing is an ancestor of where signing began; a commit dated
        # before it must be signed when it descends from it (rare: asked of git one by one).
        wanted = [
            sha
            for sha, c in commits.items()
            if sha not in judged
            and (c.committed_at >= state.begun or sha in on_main or store.is_ancestor(state.start, sha))
        ]
    if not first:
        report.notes = []
    else:
        report.checked = len(judged)
        for sha, problem in judged.items():
            if problem:
                report.problems.append((sha, problem))
    # In the order of the walk, which is the order of the pack: reads stay sequential.
    if claim is None:
        parts = [wanted]
    else:
        parts = (wanted[start : start + CHUNK] for start in iter(lambda: claim(len(wanted)), None))
    for part in parts:
        for sha, raw in store.blobs(part):
            report.checked += 1
            problem = _check_one(commits[sha], raw, trusted, state.instance, sha in on_main, False)
            if problem:
                report.problems.append((sha, problem))
    for commit, _ in versions if first else ():
        reason = commit.trailer("Key-Reason") or ""
        if reason == "after a password reset":
            owner = commit.trailer("Key-Owner") or "?"
            report.notes.append(f"first signature of {owner} after a password reset: key listed at {commit.sha[:12]}")
    return report


def signatures_beside(
    store: GitStore, main: list[tuple[Commit, dict]], commits: dict[str, Commit], since: SigningState | None = None
) -> Callable[[], SignatureReport]:
    """Start :func:`check_signatures`; the returned function waits for its report. A long history
    is checked in a forked process on the other core while the caller checks the rest (the child
    inherits the parsed history, so nothing big crosses the pipe: only the report comes back);
    the commits are shared out :data:`CHUNK` at a time, the caller taking its turn when it asks
    for the report."""
    if len(commits) < BESIDE_FROM or "fork" not in multiprocessing.get_all_start_methods():
        report = check_signatures(store, main, commits, since=since)
        return lambda: report
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    taken = context.Value("q", 0)

    def claim(count: int) -> int | None:
        with taken.get_lock():
            start = taken.value
            if start >= count:
                return None
            taken.value = start + CHUNK
            return start

    def work() -> None:
        try:
            send.send(check_signatures(store, main, commits, since, claim))
        except BaseException as exc:  # noqa: BLE001 - carried to the parent, raised there
            send.send(exc)

    child = context.Process(target=work, name="docctl-verify-signatures", daemon=True)
    child.start()
    send.close()

    def result() -> SignatureReport:
        try:
            rest = check_signatures(store, main, commits, since, claim, first=False)  # beside the child
            found = receive.recv()
        except EOFError:
            raise DocctlError("the signature check stopped without a report") from None
        finally:
            child.join()
            receive.close()
        if isinstance(found, BaseException):
            raise found
        found.problems += rest.problems
        found.checked += rest.checked
        return found

    return result


def _ancestors(start: Commit, commits: dict[str, Commit]) -> set[str]:
    """The commits ``start`` descends from (not itself), as far as ``commits`` holds them."""
    seen: set[str] = set()
    stack = list(start.parents)
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        found = commits.get(sha)
        if found is not None:
            stack.extend(found.parents)
    return seen


def _descendants(start: Commit, commits: dict[str, Commit]) -> set[str]:
    """The commits of ``commits`` that have ``start`` among their ancestors."""
    children: dict[str, list[str]] = {}
    for sha, commit in commits.items():
        for parent in commit.parents:
            children.setdefault(parent, []).append(sha)
    seen: set[str] = set()
    stack = list(children.get(start.sha, ()))
    while stack:
        sha = stack.pop()
        if sha not in seen:
            seen.add(sha)
            stack.extend(children.get(sha, ()))
    return seen


def _by_raw(entries: list[SignerKey]) -> dict[bytes, list[SignerKey]]:
    found: dict[bytes, list[SignerKey]] = {}
    for entry in entries:
        try:
            found.setdefault(entry.raw, []).append(entry)
        except DocctlError:
            continue  # a malformed line signs nothing
    return found


def _parse(text: bytes, report: SignatureReport, sha: str) -> list[SignerKey]:
    try:
        return allowed_signers.parse(text.decode("utf-8", "replace"))
    except DocctlError as exc:
        report.problems.append((sha, f"allowed_signers does not parse: {exc.message}"))
        return []


def _check_one(
    commit: Commit,
    raw: bytes,
    by_raw: dict[bytes, list[SignerKey]],
    instance: str,
    on_main: bool,
    changes_keys: bool,
) -> str | None:
    payload, armored = split_signature(raw)
    if armored is None:
        return f"not signed ({_what(commit)}): written after signing began, not by docctl"
    try:
        key = verify_signature(armored, payload)
    except BadSignature as exc:
        return f"its signature does not match it ({exc}): altered after signing ({_what(commit)})"
    when = commit.committed_at
    entries = by_raw.get(key, [])
    valid = [e for e in entries if e.valid_at(when)]
    if not entries:
        return f"signed by a key not in allowed_signers ({fingerprint(key)}; {_what(commit)})"
    if not valid:
        return f"signed by {entries[0].principal}'s key outside its validity ({_what(commit)})"
    principals = {e.principal for e in valid}
    action = commit.trailer("Action") or ""
    if (action == "approve" and not on_main) or (on_main and action in SIGNATURE_STEPS_ON_MAIN):
        signer = _signer_email(commit)
        if instance in principals:
            return f"a signature of {signer or 'someone'} signed by the instance's key, not by the signer's own"
        if signer not in principals:
            return f"a signature of {signer or '(nobody named)'} made with {', '.join(sorted(principals))}'s key"
        return None
    if instance not in principals:
        owners = ", ".join(sorted(principals))
        return f"signed by {owners}'s own key where docctl signs as the instance ({_what(commit)})"
    if changes_keys and action not in ("keys", "init"):
        return "changes allowed_signers without being a docctl keys commit"
    return None


def _signer_email(commit: Commit) -> str:
    value = commit.trailer("Signature")
    if not value:
        return ""
    try:
        return Signature.from_trailer(value).email
    except (ValueError, IndexError):
        return ""


def _what(commit: Commit) -> str:
    action = commit.trailer("Action") or "no action"
    number = commit.trailer("Change")
    return f"{action} of change {number}" if number else action
