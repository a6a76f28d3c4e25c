"""Who may sign a change, and when a change has every signature it needs.

Pure rules over the policy, the person and the change — no git, no I/O — so the table of
transitions × roles is tested directly. Sources: CONTRACT §2, ISO 9001 7.5.2, and 21 CFR Part 11
§11.50 (name, time, meaning recorded), §11.70 (linked to the exact record), §11.200 (re-entry of
the password for every signing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .changes import Change
from .errors import Forbidden
from .policy import Policy, Requirement


class Person(Protocol):
    login: str
    name: str
    email: str
    roles: frozenset[str]
    units: frozenset[str]


def can_fulfil(person: Person, requirement: Requirement, unit: str) -> bool:
    """Whether ``person``'s roles and units meet ``requirement``. An administrator never does:
    who manages accounts must not also sign with them (separation of duties, issue 15)."""
    if requirement.role not in person.roles or "admin" in person.roles:
        return False
    return not requirement.unit_scoped or unit in person.units


def outstanding(policy: Policy, doc_type: str, unit: str, change: Change) -> list[Requirement]:
    """Requirements not yet met by a valid signature (each signature meets at most one)."""
    remaining = list(policy.requirements_for(doc_type))
    for event in change.signatures:
        sig = event.signature
        if sig is None:
            continue
        for req in remaining:
            if req.role == sig.role and req.meaning == sig.meaning:
                remaining.remove(req)
                break
    return remaining


def requirement_for_signer(
    policy: Policy, doc_type: str, unit: str, change: Change, person: Person, meaning: str | None = None
) -> Requirement:
    """The requirement this person's signature would meet, or Forbidden saying why none.

    Refuses: a change not in review, the author or any editor, a second signature by the same
    person, a person with no role (or no unit) that the remaining requirements ask for.
    """
    if change.state != "in_review":
        raise Forbidden(
            "change %(number)s is %(state)s; only a change in review can be signed",
            number=change.number,
            state=change.state,
        )
    if person.login in change.editors:
        raise Forbidden("you prepared or edited this change, so you cannot sign it")
    if any(e.actor_login == person.login for e in change.signatures):
        raise Forbidden("you have already signed this change")
    candidates = [r for r in outstanding(policy, doc_type, unit, change) if can_fulfil(person, r, unit)]
    if meaning:
        candidates = [r for r in candidates if r.meaning == meaning]
    if not candidates:
        needed = "; ".join(r.describe(unit) for r in outstanding(policy, doc_type, unit, change)) or "nothing"
        raise Forbidden("your roles do not meet any signature still needed (needed: %(needed)s)", needed=needed)
    return candidates[0]


def may_reject(policy: Policy, doc_type: str, unit: str, change: Change, person: Person) -> None:
    """Any person who could sign (or a quality manager) may send a change back to its author."""
    if change.state != "in_review":
        raise Forbidden(
            "change %(number)s is %(state)s; only a change in review can be rejected",
            number=change.number,
            state=change.state,
        )
    if person.login in change.editors:
        raise Forbidden("you prepared or edited this change; cancel it or edit it instead")
    if "quality_manager" in person.roles:
        return
    if not any(can_fulfil(person, r, unit) for r in policy.requirements_for(doc_type)):
        raise Forbidden("only a person who signs this kind of document can reject it")


def eligible_signers(
    policy: Policy, doc_type: str, unit: str, change: Change, people: Iterable[Person]
) -> list[tuple[Requirement, list[Person]]]:
    """Each signature still needed, with the people who could give it now, by name.

    An empty list of people is a dead end (issue 17): the only quality manager edited the change,
    or the unit has no approver — the change page and the tasks say so instead of waiting.
    """
    signed = {e.actor_login for e in change.signatures}
    people = [p for p in people if getattr(p, "active", True)]
    return [
        (
            requirement,
            [
                p
                for p in people
                if can_fulfil(p, requirement, unit) and p.login not in change.editors and p.login not in signed
            ],
        )
        for requirement in outstanding(policy, doc_type, unit, change)
    ]


def may_sign(policy: Policy, doc_type: str, unit: str, change: Change, person: Person) -> bool:
    """Whether ``person`` could sign now (the page shows the sign form only then)."""
    return _allowed(requirement_for_signer, policy, doc_type, unit, change, person)


def may_reject_now(policy: Policy, doc_type: str, unit: str, change: Change, person: Person) -> bool:
    return _allowed(may_reject, policy, doc_type, unit, change, person)


def _allowed(rule, *args) -> bool:
    try:
        rule(*args)
    except Forbidden:
        return False
    return True
