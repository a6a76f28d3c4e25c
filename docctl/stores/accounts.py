"""People managed in the product (issue 15): every change is recorded and takes effect at once.

An administrator adds people, changes their roles and units, deactivates them (never deletes:
signatures keep their names), resets passwords and revokes tokens. Each of these writes one row in
the append-only account journal (``account_events``: when, who did it, to whom, what) — the audit
trail shows them — and ends the person's sessions where it changes what they may do, so a removed
role is gone on the next request, not at the next login.

Separation of duties: nobody changes their own roles, units or state here (another administrator
must, and is recorded doing it), and nobody holding the ``admin`` role can sign (see
:func:`docctl.signing.can_fulfil`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from ..core.errors import Forbidden, Invalid
from .keys import KeyStore
from .people import User, UserStore, check_password_policy
from .sessions import SessionStore


class Accounts:
    def __init__(self, users: UserStore, sessions: SessionStore) -> None:
        self.users = users
        self.sessions = sessions
        # Signing keys (issue 29), wired by the instance: a reset or a deactivation closes the
        # person's key (and lists it closed on main); a password change re-seals it.
        self.keys: KeyStore | None = None
        self.close_signing_key: Callable[[str, str, str, str], object] | None = None
        self.send_temporary_password: Callable[[User, str], object] | None = None

    def change_password(self, login: str, new_password: str, *, old_password: str) -> None:
        """The person's own password change: their signing key re-sealed under the new one."""
        self.users.set_password(login, new_password, old_password=old_password)
        if self.keys is not None:
            self.keys.reseal(login, old_password, new_password)

    def _close_key(self, actor_login: str, person: User, why: str) -> None:
        if self.close_signing_key is not None:
            self.close_signing_key(person.login, person.email, why, actor_login)

    def add(
        self,
        actor: User,
        login: str,
        *,
        name: str,
        email: str,
        roles: Iterable[str],
        units: Iterable[str],
        password: str,
    ) -> User:
        _require_admin(actor)
        person = self.users.add(login, name=name, email=email, roles=roles, units=units, password=password)
        self.users.reset_password(login, password)  # a password someone else chose: change it first
        self.users.record(actor.login, login, "created", _describe(person))
        return self.users.get(login)

    def change(
        self,
        actor: User,
        login: str,
        *,
        roles: Iterable[str],
        units: Iterable[str],
        name: str | None = None,
        email: str | None = None,
    ) -> User:
        """Set a person's roles and units (and name, e-mail); recorded, sessions ended if rights changed."""
        _require_admin(actor)
        _not_self(actor, login, "roles or units")
        before = self.users.get(login)
        after = self.users.update(login, roles=set(roles), units=set(units), name=name, email=email)
        changes = _differences(before, after)
        if changes:
            self.users.record(actor.login, login, "changed", "; ".join(changes))
        if (before.roles, before.units) != (after.roles, after.units):
            self.sessions.end_all(login, "rights changed")
        return after

    def set_active(self, actor: User, login: str, active: bool) -> User:
        _require_admin(actor)
        _not_self(actor, login, "state")
        before = self.users.get(login)
        if before.active == active:
            return before
        after = self.users.update(login, active=active)
        self.users.record(actor.login, login, "activated" if active else "deactivated", "")
        if not active:
            self.sessions.end_all(login, "deactivated")
            self.users.revoke_tokens(login)
            self._close_key(actor.login, after, "deactivated")
        return after

    def reset_password(self, actor: User | str, login: str, temporary_password: str | None = None) -> None:
        """An administrator's reset (issue 29: no one signs in another's name). Without
        ``temporary_password`` one is made and sent to the person's own e-mail only: the
        administrator never learns a secret that could become the person's signing password.
        Either way the person's signing key is closed: their next signature makes a new key,
        reported as the first after a reset."""
        who = actor if isinstance(actor, str) else _require_admin(actor).login  # a str: the CLI's operator
        person = self.users.get(login)
        chosen = temporary_password is not None
        password = temporary_password if chosen else temporary_password_for(login)
        self.users.reset_password(login, password)
        if not chosen and self.send_temporary_password is not None:
            self.send_temporary_password(person, password)
        how = "chosen by the administrator" if chosen else f"sent to {person.email}"
        self.users.record(who, login, "password reset", f"temporary password {how}; must choose a new one")
        self.sessions.end_all(login, "password reset")
        self._close_key(who, person, "password reset")

    def revoke_tokens(self, actor: User | str, login: str, *, label: str | None = None) -> int:
        who = actor if isinstance(actor, str) else _require_admin(actor).login
        revoked = self.users.revoke_tokens(login, label=label)
        if revoked:
            labelled = f" labelled {label}" if label else ""
            self.users.record(who, login, "tokens revoked", f"{revoked} token(s){labelled}")
        return revoked

    def revoke_token(self, actor: User, login: str, token_id: int) -> None:
        _require_admin(actor)
        self.users.revoke_token(token_id, login=login)
        self.users.record(actor.login, login, "tokens revoked", f"token {token_id}")


def temporary_password_for(login: str) -> str:
    """A random temporary password the password policy accepts. A random one may hold the
    login ("qm" in about one of 70), which the policy refuses as too easy to guess: the reset
    then failed now and then instead of sending a password."""
    while True:
        password = secrets.token_urlsafe(12)
        try:
            check_password_policy(password, login)
        except Invalid:
            continue
        return password


def _require_admin(actor: User) -> User:
    if "admin" not in actor.roles:
        raise Forbidden("only an administrator manages people")
    return actor


def _not_self(actor: User, login: str, what: str) -> None:
    if actor.login == login:
        raise Forbidden("nobody changes their own %(what)s: ask another administrator (it is recorded)", what=what)


def _describe(person: User) -> str:
    units = ", ".join(sorted(person.units)) or "-"
    return f"roles {', '.join(sorted(person.roles))}; units {units}"


def _differences(before: User, after: User) -> list[str]:
    out = []
    for label, old, new in (("role", before.roles, after.roles), ("unit", before.units, after.units)):
        out += [f"+{label} {x}" for x in sorted(new - old)] + [f"-{label} {x}" for x in sorted(old - new)]
    if before.name != after.name:
        out.append(f"name {before.name!r} → {after.name!r}")
    if before.email != after.email:
        out.append(f"e-mail {before.email} → {after.email}")
    return out
