"""Sign-in through the office's directory (issue 32): Active Directory or another LDAP server,
through ``ldap3`` (pure Python, maintained).

A login is checked the way directory-aware systems do it: search the person with docctl's own
account (``LDAP_BIND_DN``, or anonymously) under ``LDAP_USER_BASE`` with ``LDAP_USER_FILTER``
(``{login}`` replaced by the login typed, escaped), then bind as the entry found with the
password typed — the directory alone decides whether it is right. Roles and units come from the
groups the person belongs to, found by asking each group named in ``[LDAP_GROUPS]`` whether it
lists the person (``member``, ``uniqueMember`` or ``memberUid``), so no ``memberOf`` overlay is
needed. Passwords never leave this module and are never stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..core.errors import ConfigError, Unauthorized, Unavailable

log = logging.getLogger("docctl.directory")
TIMEOUT = 5  # seconds to connect and to wait for an answer


@dataclass(frozen=True)
class DirectoryPerson:
    login: str
    name: str
    email: str
    roles: frozenset[str]
    units: frozenset[str]
    dn: str


class Directory:
    def __init__(
        self,
        url: str,
        *,
        bind_dn: str = "",
        bind_password: str = "",
        user_base: str,
        user_filter: str = "(uid={login})",
        start_tls: bool = False,
        groups: dict[str, str] | None = None,
    ) -> None:
        if "{login}" not in user_filter:
            raise ConfigError("LDAP_USER_FILTER must contain {login}")
        if not user_base:
            raise ConfigError("LDAP_USER_BASE must name where people are in the directory")
        self.url, self.bind_dn, self.bind_password = url, bind_dn, bind_password
        self.user_base, self.user_filter, self.start_tls = user_base, user_filter, start_tls
        self.groups = {dn: _grant(dn, value) for dn, value in (groups or {}).items()}

    def authenticate(self, login: str, password: str) -> DirectoryPerson:
        """The person the directory knows by ``login``, once it accepted ``password``; Unauthorized
        when it does not, Unavailable when it cannot be reached."""
        from ldap3.core.exceptions import LDAPException
        from ldap3.utils.conv import escape_filter_chars

        if not password:  # an empty password is an anonymous bind, which LDAP servers accept
            raise Unauthorized("wrong login or password")
        try:
            with self._connection(self.bind_dn, self.bind_password) as service:
                service.search(
                    self.user_base,
                    self.user_filter.replace("{login}", escape_filter_chars(login)),
                    attributes=["cn", "displayName", "mail", "uid"],
                    size_limit=2,
                )
                found = list(service.entries)
                if len(found) != 1:
                    raise Unauthorized("wrong login or password")
                entry = found[0]
                dn = entry.entry_dn
                try:
                    with self._connection(dn, password):
                        pass
                except _BindRefused:
                    raise Unauthorized("wrong login or password") from None
                roles, units = set(), set()
                for group, (group_roles, group_units) in self.groups.items():
                    if self._lists(service, group, dn, login):
                        roles |= group_roles
                        units |= group_units
        except LDAPException as exc:
            log.warning("the directory %s cannot be reached: %s", self.url, exc)
            raise Unavailable(
                "the office's directory cannot be reached: try again later (local administrators can still log in)"
            ) from exc
        name = _first(entry, "displayName") or _first(entry, "cn") or login
        email = _first(entry, "mail") or ""
        return DirectoryPerson(login, name, email, frozenset(roles), frozenset(units), dn)

    def _connection(self, user: str, password: str):
        import ldap3

        server = ldap3.Server(self.url, connect_timeout=TIMEOUT, get_info=ldap3.NONE)
        connection = ldap3.Connection(
            server, user=user or None, password=password or None, receive_timeout=TIMEOUT, raise_exceptions=False
        )
        try:
            connection.open()
        except Exception:
            _close_quietly(connection)  # ldap3 may hold a socket that never connected
            raise
        if self.start_tls and not connection.start_tls():
            connection.unbind()
            raise Unavailable("the directory refused StartTLS: no password was sent")
        if not connection.bind():
            result = connection.result or {}
            connection.unbind()
            if result.get("result") == 49:  # invalidCredentials
                raise _BindRefused()
            from ldap3.core.exceptions import LDAPException

            raise LDAPException(f"bind refused: {result.get('description')} {result.get('message')}")
        return _Closing(connection)

    @staticmethod
    def _lists(service, group: str, dn: str, login: str) -> bool:
        from ldap3 import BASE
        from ldap3.utils.conv import escape_filter_chars

        who, uid = escape_filter_chars(dn), escape_filter_chars(login)
        wanted = f"(|(member={who})(uniqueMember={who})(memberUid={uid}))"
        service.search(group, wanted, search_scope=BASE, attributes=[])
        return bool(service.entries)


class _BindRefused(Exception):
    """The directory said the password is wrong (LDAP result 49)."""


class _Closing:
    def __init__(self, connection) -> None:
        self.connection = connection

    def __enter__(self):
        return self.connection

    def __exit__(self, *_exc) -> None:
        self.connection.unbind()


def _close_quietly(connection) -> None:
    try:
        connection.unbind()
    except Exception:  # noqa: BLE001, S110 - closing what may never have opened; the first error is raised
        pass
    socket = getattr(connection, "socket", None)
    if socket is not None:
        socket.close()


def _first(entry, attribute: str) -> str:
    try:
        values = entry[attribute].values
    except Exception:  # noqa: BLE001 - ldap3 raises its own for an attribute the entry lacks
        return ""
    return str(values[0]) if values else ""


def _grant(dn: str, value: str) -> tuple[frozenset[str], frozenset[str]]:
    """``"approver:OR,FN"`` → ({"approver"}, {"OR", "FN"}); several roles with ``+``."""
    roles, _, units = str(value).partition(":")
    found_roles = frozenset(r.strip() for r in roles.split("+") if r.strip())
    if not found_roles:
        raise ConfigError(f"LDAP_GROUPS: {dn} names no role")
    return found_roles, frozenset(u.strip() for u in units.split(",") if u.strip())
