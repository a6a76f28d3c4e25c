"""Verified anchors (issue 30): where the last verification stopped, so the next one need not
walk the whole history again.

A verification that finds nothing wrong is recorded as an anchor (``Verified: full`` or
``incremental``) whose tree holds ``verified.json``: the head of ``main`` it verified, how far it
read main's reflog and the anchors, what the walk knew then (each document's last revision,
released text, type and unit, the policy in force, the keys trusted), and a digest of the change
branches' tips by thousand change numbers — so the next check walks only the branches of a
thousand that moved (200,000 branches given to ``git log`` cost 1.5 s; a thousand, 0.05 s).
The anchor is signed by the instance, so the state is believed only when this instance's own key
signed it: someone who can merely write the repository cannot make docctl skip history they
forged. A state that cannot be believed — another key (after ``docctl keys rotate``), a file that
does not parse — means the whole history is checked again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from ..core.commits import split_signature
from ..core.errors import DocctlError
from ..core.sshsig import BadSignature
from ..core.sshsig import verify as verify_signature
from ..stores.git import GitStore
from ..workflow.anchors import ANCHORS, VERIFIED_FILE
from .moves import ReflogMark
from .signatures import SigningState
from .steps import MainState

FORMAT = 1


@dataclass
class Checkpoint:
    """The state a verified anchor recorded."""

    anchor: str  # the verified anchor's commit
    at: datetime  # when it was written
    main: str  # the head of main verified
    anchors_read: str | None  # the head of the anchors ref that verification read
    reflog: ReflogMark | None
    main_state: MainState
    signing: SigningState | None
    commits: int  # commits verified in all, up to ``main``
    branches: dict[str, str] = field(default_factory=dict)  # see branch_digests; {} = unknown


DIGITS_GROUPED = 3  # a thousand change numbers a digest


def branch_groups(tips: dict[str, str]) -> dict[str, list[str]]:
    """The change branches (ref → tip) by thousand change numbers: group → its refs. Numbers are
    given in order, so a new change moves only the last group; a ref whose name is not a number
    goes to the group "other"."""
    groups: dict[str, list[str]] = {}
    digits = DIGITS_GROUPED
    for ref in tips:
        name = ref[ref.rindex("/") + 1 :]
        group = (name[: len(name) - digits] or "0") if name.isdigit() else "other"  # 12345 → "12"
        members = groups.get(group)
        if members is None:
            groups[group] = [ref]
        else:
            members.append(ref)
    return groups


def branch_digests(tips: dict[str, str], groups: dict[str, list[str]]) -> dict[str, str]:
    """One SHA-256 a group of :func:`branch_groups`, of its refs and tips."""
    return {
        group: hashlib.sha256("\n".join([f"{ref} {tips[ref]}" for ref in sorted(refs)]).encode()).hexdigest()
        for group, refs in groups.items()
    }


def moved_branches(
    tips: dict[str, str], groups: dict[str, list[str]], current: dict[str, str], recorded: dict[str, str]
) -> dict[str, str]:
    """The branches (ref → tip) in the groups whose digest (``current``) differs from the one
    recorded: all of them when nothing was recorded."""
    if not recorded:
        return tips
    return {
        ref: tips[ref] for group, digest in current.items() if recorded.get(group) != digest for ref in groups[group]
    }


def state_of(
    main: str,
    anchors_read: str | None,
    reflog: ReflogMark | None,
    main_state: MainState,
    signing: SigningState | None,
    commits: int,
    branches: dict[str, str],
) -> dict:
    """What a verified anchor records (``verified.json``)."""
    return {
        "format": FORMAT,
        "main": main,
        "anchors_read": anchors_read,
        "reflog": reflog.as_json() if reflog else None,
        "commits": commits,
        "register": main_state.as_json(),
        "signing": signing.as_json() if signing else None,
        "branches": branches,
    }


def last_verified(store: GitStore, instance_key: bytes | None) -> tuple[Checkpoint | None, str]:
    """The newest verified anchor this instance signed, or (None, why the whole history must
    be checked)."""
    if instance_key is None:
        return None, "no instance key to believe a verified anchor by"
    if not store.has_ref(ANCHORS):
        return None, "no verified anchor yet"
    found = None
    keep = frozenset({"Action", "Verified"})
    for commit, _ in store.walk([ANCHORS], first_parent=True, bodies=False, keep=keep):
        if commit.trailer("Action") != "anchor":
            break
        if commit.trailer("Verified"):
            found = commit
            break
    if found is None:
        return None, "no verified anchor yet"
    raw = next(store.blobs([found.sha]))[1]
    payload, armored = split_signature(raw)
    try:
        key = verify_signature(armored, payload) if armored else None
    except BadSignature:
        key = None
    if key != instance_key:
        return None, f"the verified anchor {found.sha[:12]} is not signed by this instance's key"
    try:
        data = json.loads(store.read_file(found.sha, VERIFIED_FILE))
        if data.get("format") != FORMAT:
            return None, f"the verified anchor {found.sha[:12]} records another format"
        reflog = data.get("reflog")
        signing = data.get("signing")
        return (
            Checkpoint(
                anchor=found.sha,
                at=found.committed_at,
                main=data["main"],
                anchors_read=data.get("anchors_read"),
                reflog=ReflogMark.from_json(reflog) if reflog else None,
                main_state=MainState.from_json(data["register"], store),
                signing=SigningState.from_json(signing) if signing else None,
                commits=int(data["commits"]),
                branches={str(k): str(v) for k, v in (data.get("branches") or {}).items()},
            ),
            "",
        )
    except (DocctlError, ValueError, KeyError, TypeError) as exc:
        return None, f"the verified anchor {found.sha[:12]} cannot be read ({exc})"
