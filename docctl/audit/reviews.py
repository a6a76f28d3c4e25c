"""Periodic reviews due (ISO 9001 7.5.2: documented information reviewed for suitability).

Pure functions over the register of one day: the home page's tasks and the daily e-mail both
ask here, so "due" means the same thing on the screen and in the mail.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import date, timedelta

from ..core import signing
from ..core.policy import Policy
from ..derived.catalog import DocumentState

Kind = tuple[str, str]  # (document type, owning unit)


def due_by_kind(register: Iterable[DocumentState], today: date, soon_days: int) -> dict[Kind, list[DocumentState]]:
    """Documents in force whose review is overdue or due within ``soon_days``, grouped by kind,
    each group most urgent first."""
    horizon = today + timedelta(days=soon_days)
    groups: dict[Kind, list[DocumentState]] = {}
    for state in register:
        if state.status == "obsolete" or state.current is None:
            continue
        if state.review_due is None or state.review_due > horizon:
            continue
        groups.setdefault((state.current.type, state.current.unit), []).append(state)
    for states in groups.values():
        states.sort(key=lambda s: s.review_due)
    return groups


def review_scope(kinds: Iterable[Kind], policy: Policy, user=None) -> tuple[Kind, ...]:
    """The kinds among ``kinds`` that ``user`` may review (all of them with None): people with the
    same scope see the same list."""
    scope = []
    for kind in sorted(kinds):
        if user is not None:
            requirements = policy.requirements_for(kind[0])
            if not any(signing.can_fulfil(user, r, kind[1]) for r in requirements):
                continue
        scope.append(kind)
    return tuple(scope)


def reviews_due(by_kind: dict[Kind, list[DocumentState]], scope: Iterable[Kind], unit: str | None = None):
    """The reviews of the kinds in ``scope`` (of ``unit`` only, if given), most urgent first."""
    kinds = [k for k in scope if unit is None or k[1] == unit]
    return list(heapq.merge(*(by_kind[k] for k in kinds), key=lambda s: s.review_due))
