"""People: accounts, roles, password hashes, API tokens and throttling of wrong passwords.

SQLite in the instance folder, one connection per call (safe across threads and processes).
Passwords are hashed with scrypt; API tokens are stored as SHA-256 hashes only, so the
database never holds anything that logs a person in. Wrong passwords are counted per purpose
("login", "sign"): after five within 15 minutes the account is throttled for that purpose,
even for the right password, until the window has passed (21 CFR 11.300(d)). They are also
counted per client address, across accounts (issue 15): one address trying one password on
every account is stopped after ``LOGIN_FAILURES_PER_ADDRESS`` failures in the same window.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..core.clock import utc_now
from ..core.errors import Conflict, Forbidden, Invalid, NotFound, Throttled, Unauthorized
from . import database, journal
from .database import Database, Schema, append_only, identity_key, open_database

ROLES = ("reader", "author", "approver", "quality_manager", "auditor", "admin")
MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
TOKEN_TOUCH_EVERY = timedelta(seconds=60)
WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 10
_COMMON = {
    "password123",
    "qwerty1234",
    "1234567890",
    "haslo12345",
    "administrator",
    "0987654321",
    "password1234",
    "zaq12wsxcde",
    "qwertyuiop",
    "1qaz2wsx3edc",
}
_LOGIN_RE = re.compile(r"[a-z][a-z0-9._-]{1,31}")
_EMAIL_RE = re.compile(r"[^@\s<>]+@[^@\s<>.][^@\s<>]*")
_UNIT_RE = re.compile(r"[A-Z][A-Z0-9]{1,7}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _accounts_v1(dialect: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS users (
    login TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, roles TEXT NOT NULL,
    units TEXT NOT NULL, password TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    must_change_password INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id {identity_key(dialect)}, login TEXT NOT NULL REFERENCES users(login), token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS failures (login TEXT NOT NULL, purpose TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS failures_by_login ON failures (login, purpose, at);
CREATE TABLE IF NOT EXISTS address_failures (address TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS address_failures_by_address ON address_failures (address, at);
CREATE TABLE IF NOT EXISTS preferences (login TEXT PRIMARY KEY, language TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS token_uses (token_id INTEGER PRIMARY KEY, at TEXT NOT NULL, address TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS account_events (
    id {identity_key(dialect)}, at TEXT NOT NULL, actor TEXT NOT NULL, login TEXT NOT NULL,
    event TEXT NOT NULL, detail TEXT NOT NULL
);
{append_only(dialect, "account_events", "account events are append-only")}
"""


SCHEMA = Schema("accounts", (_accounts_v1, lambda dialect: journal.chain_columns(dialect, "account_events")))
EVENT_FIELDS = ("at", "actor", "login", "event", "detail")


@dataclass(frozen=True)
class User:
    """A person. Also satisfies Flask-Login's user protocol with plain attributes (no Flask import)."""

    login: str
    name: str
    email: str
    roles: frozenset[str]
    units: frozenset[str]
    active: bool = True
    must_change_password: bool = False
    language: str | None = None  # the interface language this person chose (None: the instance's)

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return self.login

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def signature(self) -> str:
        return f"{self.name} <{self.email}>"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, dklen=64, **_SCRYPT)
    enc = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${enc(salt).decode()}${enc(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(key)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """What an unknown login's password is checked against, so that it takes as long as a known
    one's. Made at first use, not at import: scrypt cost every CLI command 51 ms."""
    return hash_password("timing-equalizer-never-a-password")


# The password column of an account the directory manages: no password verifies against it.
FROM_DIRECTORY = "!directory"


def check_password_policy(password: str, login: str = "") -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid("a password needs at least %(MIN_PASSWORD)s characters", MIN_PASSWORD=MIN_PASSWORD)
    if password.lower() in _COMMON or (login and login.lower() in password.lower()) or len(set(password)) < 4:
        raise Invalid("this password is too easy to guess")


class UserStore:
    """Accounts in ``users.sqlite3`` or the shared PostgreSQL database."""

    def __init__(
        self,
        database: Database | Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        address_failures: int = MAX_ADDRESS_FAILURES,
    ) -> None:
        self.database = open_database(database)
        self.path = getattr(self.database, "path", None)
        self.clock = clock
        self.address_failures = address_failures
        # The office's directory (issue 32): who has no local password signs in through it.
        self.directory = None

    def _db(self):
        return self.database.session(SCHEMA)

    # -- preferences -------------------------------------------------------------------------
    def set_language(self, login: str, language: str) -> None:
        with self._db() as conn:
            conn.execute(
                "INSERT INTO preferences (login, language) VALUES (?, ?)"
                " ON CONFLICT (login) DO UPDATE SET language = excluded.language",
                (login, language),
            )

    # -- people ------------------------------------------------------------------------------
    def add(
        self, login: str, *, name: str, email: str, roles: Iterable[str], units: Iterable[str] = (), password: str
    ) -> User:
        login, name, email, roles, units = validate_person(login, name, email, roles, units)
        check_password_policy(password, login)
        try:
            self._insert(login, name, email, roles, units, hash_password(password))
        except database.IntegrityError:
            raise Conflict("user %(login)s already exists", login=login) from None
        return self.get(login)

    def _insert(self, login: str, name: str, email: str, roles, units, password: str) -> None:
        """One new account row (``password``: a hash, or :data:`FROM_DIRECTORY`)."""
        with self._db() as conn:
            conn.execute(
                "INSERT INTO users (login, name, email, roles, units, password, created_at) VALUES (?,?,?,?,?,?,?)",
                (
                    login,
                    name,
                    email,
                    " ".join(sorted(roles)),
                    " ".join(sorted(units)),
                    password,
                    self.clock().isoformat(),
                ),
            )

    def get(self, login: str) -> User:
        with self._db() as conn:
            row = conn.execute(f"{_WITH_LANGUAGE} WHERE users.login=?", (str(login),)).fetchone()
        if row is None:
            raise NotFound("no user %(login)s", login=repr(str(login)[:40]))
        return _user(row)

    def list(self) -> list[User]:
        with self._db() as conn:
            return [_user(r) for r in conn.execute(f"{_WITH_LANGUAGE} ORDER BY users.login")]

    def update(self, login: str, *, name=None, email=None, roles=None, units=None, active=None) -> User:
        current = self.get(login)
        _, name, email, roles, units = validate_person(
            login,
            current.name if name is None else name,
            current.email if email is None else email,
            current.roles if roles is None else roles,
            current.units if units is None else units,
        )
        with self._db() as conn:
            conn.execute(
                "UPDATE users SET name=?, email=?, roles=?, units=?, active=? WHERE login=?",
                (
                    name,
                    email,
                    " ".join(sorted(roles)),
                    " ".join(sorted(units)),
                    int(current.active if active is None else bool(active)),
                    login,
                ),
            )
        return self.get(login)

    def grant(self, login: str, *, roles: Iterable[str] = (), units: Iterable[str] = (), actor: str) -> User:
        """Give a person more roles or units, recorded in the append-only ``account_events``.

        How an administrator resolves a change nobody can sign (issue 17): the grant says who gave
        which role to whom and when, so an auditor can see why a new signer appeared.
        """
        current = self.get(login)
        added_roles, added_units = set(roles) - current.roles, set(units) - current.units
        if not added_roles and not added_units:
            return current
        updated = self.update(login, roles=current.roles | added_roles, units=current.units | added_units)
        detail = ", ".join([f"role {r}" for r in sorted(added_roles)] + [f"unit {u}" for u in sorted(added_units)])
        self.record(actor, login, "grant", detail)
        return updated

    def account_events(self, login: str | None = None) -> list[dict]:
        with self._db() as conn:
            rows = conn.execute(
                "SELECT at, actor, login, event, detail FROM account_events"
                " WHERE CAST(? AS TEXT) IS NULL OR login=? ORDER BY id",
                (login, login),
            ).fetchall()
        return [dict(r) for r in rows]

    def created(self) -> dict[str, datetime]:
        """When each account was created (verification: nobody signs before they exist)."""
        with self._db() as conn:
            return {r[0]: datetime.fromisoformat(r[1]) for r in conn.execute("SELECT login, created_at FROM users")}

    # -- passwords ---------------------------------------------------------------------------
    def authenticate(self, login: str, password: str, *, address: str = "") -> User:
        """Log in. The same answer for an unknown login and a wrong password."""
        return self._check(str(login), str(password), "login", address)

    def check_signing_password(self, login: str, password: str) -> User:
        """Re-authentication for an electronic signature (password re-entered every time)."""
        user = self._check(str(login), str(password), "sign")
        if user.must_change_password:
            raise Forbidden("your password was reset: set a new password before signing")
        return user

    def reauthenticate(self, login: str, password: str) -> User:
        """The password asked again before a sensitive step (an admin changing someone's rights)."""
        return self._check(str(login), str(password), "confirm")

    def _check(self, login: str, password: str, purpose: str, address: str = "") -> User:
        now = self.clock()
        since = (now - WINDOW).isoformat()
        with self._db() as conn:
            if address:
                failures = conn.execute(
                    "SELECT COUNT(*) FROM address_failures WHERE address=? AND at>?", (address, since)
                ).fetchone()[0]
                if failures >= self.address_failures:
                    raise Throttled("too many wrong passwords from your address: try again in 15 minutes")
            failures = conn.execute(
                "SELECT COUNT(*) FROM failures WHERE login=? AND purpose=? AND at>?", (login, purpose, since)
            ).fetchone()[0]
            if failures >= MAX_FAILURES:
                raise Throttled("too many wrong passwords: try again in 15 minutes")
            row = conn.execute("SELECT * FROM users WHERE login=?", (login,)).fetchone()
        if self.directory is not None and (row is None or row["password"] == FROM_DIRECTORY):
            # Not a local account: the directory decides (issue 32), at login and at every signature.
            try:
                found = self.directory.authenticate(login, password)
                if row is not None and not row["active"]:
                    raise Unauthorized("wrong login or password")
            except Unauthorized:
                self._failed(login, purpose, address, now)
                raise
            user = self._from_directory(found)
            self._succeeded(login, purpose)
            return user
        good = verify_password(password, row["password"] if row else _dummy_hash()) and row is not None
        if not good or not row["active"]:
            self._failed(login, purpose, address, now)
            raise Unauthorized("wrong login or password")
        self._succeeded(login, purpose)
        return _user(row)

    def _refuse_directory_account(self, login: str) -> None:
        with self._db() as conn:
            row = conn.execute("SELECT password FROM users WHERE login=?", (login,)).fetchone()
        if row is not None and row["password"] == FROM_DIRECTORY:
            raise Invalid(
                "%(login)s signs in through the office's directory: the password is changed there", login=login
            )

    def from_directory(self, login: str) -> bool:
        """Whether ``login`` signs in through the directory (no password of docctl's own)."""
        with self._db() as conn:
            row = conn.execute("SELECT password FROM users WHERE login=?", (login,)).fetchone()
        return row is not None and row["password"] == FROM_DIRECTORY

    def _failed(self, login: str, purpose: str, address: str, now: datetime) -> None:
        with self._db() as conn:
            conn.execute("INSERT INTO failures VALUES (?,?,?)", (login, purpose, now.isoformat()))
            if address:  # a success never clears these: one good account must not reset an address
                conn.execute("INSERT INTO address_failures VALUES (?,?)", (address, now.isoformat()))

    def _succeeded(self, login: str, purpose: str) -> None:
        with self._db() as conn:
            conn.execute("DELETE FROM failures WHERE login=? AND purpose=?", (login, purpose))

    def _from_directory(self, found) -> User:
        """The account of a person the directory accepted: created, or brought up to the
        directory's name, e-mail, roles and units — each change journaled as an administrator's
        would be (actor ``directory``). Everyone in the directory may read."""
        roles = found.roles or frozenset({"reader"})
        login, name, email, roles, units = validate_person(found.login, found.name, found.email, roles, found.units)
        try:
            current = self.get(login)
        except NotFound:
            self._insert(login, name, email, roles, units, FROM_DIRECTORY)
            rights = [f"role {r}" for r in sorted(roles)] + [f"unit {u}" for u in sorted(units)]
            self.record("directory", login, "created", f"from the directory ({found.dn}): " + ", ".join(rights))
            return self.get(login)
        changes = [f"+role {r}" for r in sorted(roles - current.roles)]
        changes += [f"-role {r}" for r in sorted(current.roles - roles)]
        changes += [f"+unit {u}" for u in sorted(units - current.units)]
        changes += [f"-unit {u}" for u in sorted(current.units - units)]
        if name != current.name:
            changes.append(f"name {name}")
        if email != current.email:
            changes.append(f"e-mail {email}")
        if not changes:
            return current
        updated = self.update(login, name=name, email=email, roles=roles, units=units)
        self.record("directory", login, "changed", "; ".join(changes))
        return updated

    def set_password(self, login: str, new_password: str, *, old_password: str | None) -> None:
        self._refuse_directory_account(login)
        if old_password is not None:
            self._check(login, old_password, "login")
        check_password_policy(new_password, login)
        with self._db() as conn:
            conn.execute(
                "UPDATE users SET password=?, must_change_password=0 WHERE login=?",
                (hash_password(new_password), login),
            )

    def reset_password(self, login: str, temporary_password: str) -> None:
        """An administrator's reset: the person must choose a new password before signing again."""
        self.get(login)
        self._refuse_directory_account(login)
        check_password_policy(temporary_password, login)
        with self._db() as conn:
            conn.execute(
                "UPDATE users SET password=?, must_change_password=1 WHERE login=?",
                (hash_password(temporary_password), login),
            )

    # -- API tokens --------------------------------------------------------------------------
    def create_token(self, login: str, *, label: str = "") -> str:
        self.get(login)
        token = "dct_" + secrets.token_urlsafe(32)
        with self._db() as conn:
            conn.execute(
                "INSERT INTO tokens (login, token_hash, label, created_at) VALUES (?,?,?,?)",
                (login, _token_hash(token), label[:200], self.clock().isoformat()),
            )
        return token

    def user_for_token(self, token: str, *, address: str = "") -> User:
        """The person a token belongs to; its last use is recorded (at most once a minute)."""
        now = self.clock()
        with self._db() as conn:
            row = conn.execute(
                "SELECT u.*, t.id AS token_id, x.at AS used_at FROM tokens t JOIN users u ON u.login = t.login"
                " LEFT JOIN token_uses x ON x.token_id = t.id WHERE t.token_hash=? AND t.revoked_at IS NULL",
                (_token_hash(str(token)),),
            ).fetchone()
            if row is None or not row["active"]:
                raise Unauthorized("the API token is not valid")
            if row["used_at"] is None or now - datetime.fromisoformat(row["used_at"]) > TOKEN_TOUCH_EVERY:
                conn.execute(
                    "INSERT INTO token_uses VALUES (?,?,?) ON CONFLICT (token_id) DO UPDATE"
                    " SET at = excluded.at, address = excluded.address",
                    (row["token_id"], now.isoformat(), address[:64]),
                )
        return _user(row)

    def list_tokens(self, login: str) -> list[dict]:
        """A person's tokens (never the token itself), with when and from where each was last used."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT t.id, t.label, t.created_at, t.revoked_at, x.at AS last_used_at, x.address AS last_used_from"
                " FROM tokens t LEFT JOIN token_uses x ON x.token_id = t.id WHERE t.login=? ORDER BY t.id",
                (login,),
            ).fetchall()
        return [dict(r) for r in rows]

    def revoke_token(self, token_id: int, *, login: str | None = None) -> None:
        with self._db() as conn:
            changed = conn.execute(
                "UPDATE tokens SET revoked_at=? WHERE id=? AND revoked_at IS NULL"
                " AND (CAST(? AS TEXT) IS NULL OR login=?)",
                (self.clock().isoformat(), int(token_id), login, login),
            ).rowcount
        if not changed:
            raise NotFound("no active token %(token_id)s", token_id=token_id)

    def revoke_tokens(self, login: str, *, label: str | None = None) -> int:
        """Revoke every active token of ``login`` (only those labelled ``label`` when given)."""
        self.get(login)
        with self._db() as conn:
            return conn.execute(
                "UPDATE tokens SET revoked_at=? WHERE login=? AND revoked_at IS NULL"
                " AND (CAST(? AS TEXT) IS NULL OR label=?)",
                (self.clock().isoformat(), login, label, label),
            ).rowcount

    def record(self, actor: str, login: str, event: str, detail: str) -> None:
        """One row in the append-only account journal (who changed whose account, and how)."""
        with self._db() as conn, conn.transaction():
            values = (self.clock().isoformat(), actor, login, event, detail)
            journal.append(conn, self.database.dialect, "account_events", EVENT_FIELDS, values)

    def event_chain(self) -> list[journal.ChainRow]:
        """Every account event with its place in the hash chain (``docctl verify``)."""
        with self._db() as conn:
            return journal.read(conn, "account_events", EVENT_FIELDS, "id")

    def event_chain_head(self) -> tuple[int, str, int]:
        with self._db() as conn:
            return journal.head(conn, "account_events")

    def newest_events(self, *, since=None, until=None, login: str | None = None, limit: int = 50) -> list[dict]:
        """The newest account events first (the audit trail merges them in)."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT at, actor, login, event, detail FROM account_events"
                " WHERE (CAST(? AS TEXT) IS NULL OR at >= ?) AND (CAST(? AS TEXT) IS NULL OR at < ?)"
                " AND (CAST(? AS TEXT) IS NULL OR login = ? OR actor = ?)"
                " ORDER BY id DESC LIMIT ?",
                (since, since, until, until, login, login, login, limit),
            ).fetchall()
        return [dict(r) for r in rows]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The person and their chosen language in one query: a page reads the person anyway.
_WITH_LANGUAGE = "SELECT users.*, preferences.language FROM users LEFT JOIN preferences USING (login)"


def _user(row) -> User:
    return User(
        row["login"],
        row["name"],
        row["email"],
        frozenset(row["roles"].split()),
        frozenset(row["units"].split()),
        bool(row["active"]),
        bool(row["must_change_password"]),
        row["language"] if "language" in row.keys() else None,  # API tokens and logins need none
    )


def validate_person(login, name, email, roles, units):
    """Check a person's fields; returns them normalized or raises Invalid."""
    if not isinstance(login, str) or not _LOGIN_RE.fullmatch(login):
        raise Invalid("a login is 2–32 lower-case letters, digits, dots, dashes or underscores, starting with a letter")
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or any(c in name for c in "<>\n\r\0"):
        raise Invalid("a name is one line of at most 200 characters, without < or >")
    if not isinstance(email, str) or not _EMAIL_RE.fullmatch(email):
        raise Invalid("%(email)s is not an e-mail address", email=repr(str(email)[:60]))
    roles = frozenset(roles)
    if not roles or not roles <= set(ROLES):
        raise Invalid("roles must be among %(value)s", value=", ".join(ROLES))
    units = frozenset(units)
    bad = [u for u in units if not _UNIT_RE.fullmatch(str(u))]
    if bad:
        raise Invalid("invalid unit codes: %(value)s", value=", ".join(map(str, bad)))
    return login, name.strip(), email, roles, units
