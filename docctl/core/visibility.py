"""Who may see a change that was never released (issue 15).

A draft is work in progress: its text may be wrong, unapproved or sensitive, and showing it to
everyone invites people to work from it. A change in ``draft`` or ``in_review`` — or one that was
``cancelled`` and so never became a revision — is visible to:

- its author and anyone who took a step in it (edited, signed, rejected);
- the people whose signature it needs (anyone who could fulfil one of the policy's requirements
  for its document type and owning unit) and the authors of that unit, who may edit it;
- quality managers, auditors and admins (oversight).

Everyone else is told it does not exist (404, not 403: a refusal would confirm it exists). A
released change is part of the public record of its revision and visible to every reader.
"""

from __future__ import annotations

from . import signing
from .changes import Change
from .policy import Policy

RESTRICTED_STATES = frozenset({"draft", "in_review", "cancelled"})
OVERSIGHT_ROLES = frozenset({"quality_manager", "auditor", "admin"})


def may_see_change(person: signing.Person | None, change: Change, doc_type: str, unit: str, policy: Policy) -> bool:
    """Whether ``person`` (None: anonymous) may see ``change``, its text, diff and preview."""
    if change.state not in RESTRICTED_STATES:
        return True
    if person is None or not getattr(person, "active", True):
        return False
    roles = set(person.roles)
    if roles & OVERSIGHT_ROLES or person.login == change.author_login:
        return True
    if "author" in roles and unit in person.units:
        return True
    if any(event.actor_login == person.login for event in change.events):
        return True
    return any(signing.can_fulfil(person, requirement, unit) for requirement in policy.requirements_for(doc_type))
