"""Signing keys (issue 29): each signer's own Ed25519 key, sealed under their password, and the
instance's key, which signs every other commit.

A person's private key is stored only encrypted: AES-256-GCM under a key derived from their
password with scrypt (n=2**14, r=8, p=1: 16 MiB and ~50 ms here, the same cost as the password
hash, so unlocking adds one password check's time to a signature; 2**15 took ~400 ms under load).
It is in clear only in memory, for one signature; never in git, a log or the database. The public
half is what ``.docctl/allowed_signers`` on ``main`` lists.

Key life: made at a person's first signature; a password change re-seals it; an administrator's
reset closes it (nobody can unlock it any more) and the next signature makes a new one; a
deactivation closes it. Closed keys stay listed with ``valid-before``: old signatures still verify.

The instance key lives in ``signing_key`` in the instance folder (mode 0600, OpenSSH format).
With a shared database (``DATABASE_URL``, several nodes) the nodes share one instance key like
the cookie secret: the first node's key is stored in the database and every node keeps a copy.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_ssh_private_key,
)

from ..core.clock import utc_now
from ..core.errors import ConfigError, Unauthorized
from ..core.sshsig import public_key_line, sign
from .database import Database, Schema, identity_key, open_database

KDF = {"n": 2**14, "r": 8, "p": 1}

SCHEMA = Schema(
    "keys",
    (
        lambda dialect: (
            f"""
CREATE TABLE IF NOT EXISTS signing_keys (
    id {identity_key(dialect)},
    login TEXT NOT NULL,
    public_key TEXT NOT NULL,
    sealed TEXT NOT NULL,
    kdf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    why TEXT NOT NULL,
    closed_at TEXT,
    closed_why TEXT
);
CREATE INDEX IF NOT EXISTS signing_keys_by_login ON signing_keys (login, closed_at);
"""
        ),
    ),
)


@dataclass(frozen=True)
class PersonalKey:
    login: str
    public_key: str  # "ssh-ed25519 AAAA…"
    created_at: datetime
    why: str  # "first signature" | "after a password reset"


@dataclass(frozen=True)
class Unlocked:
    """A person's key in clear, for one signature: ``sign(payload)`` gives the armored signature."""

    key: PersonalKey
    private: Ed25519PrivateKey
    created: bool  # made just now: its public half must be registered before it signs

    def sign(self, payload: bytes) -> str:
        return sign(self.private, payload)


def _derive(password: str, salt: bytes, kdf: dict) -> bytes:
    return Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(password.encode("utf-8"))


def seal(private: Ed25519PrivateKey, password: str) -> tuple[str, str]:
    """(sealed, kdf): the raw private key under AES-GCM with a key derived from ``password``."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    box = AESGCM(_derive(password, salt, KDF)).encrypt(nonce, raw, b"docctl signing key")
    kdf = f"scrypt${KDF['n']}${KDF['r']}${KDF['p']}"
    return base64.b64encode(salt + nonce + box).decode(), kdf


def unseal(sealed: str, kdf: str, password: str) -> Ed25519PrivateKey:
    """The private key; Unauthorized when the password does not open it."""
    _, n, r, p = kdf.split("$")
    data = base64.b64decode(sealed)
    salt, nonce, box = data[:16], data[16:28], data[28:]
    try:
        raw = AESGCM(_derive(password, salt, {"n": int(n), "r": int(r), "p": int(p)})).decrypt(
            nonce, box, b"docctl signing key"
        )
    except InvalidTag:
        raise Unauthorized("wrong login or password") from None
    return Ed25519PrivateKey.from_private_bytes(raw)


class KeyStore:
    """Personal signing keys in the accounts database (SQLite file or PostgreSQL)."""

    def __init__(self, database: Database | Path, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.database = open_database(database)
        self.clock = clock

    def _db(self):
        return self.database.session(SCHEMA)

    def current(self, login: str) -> PersonalKey | None:
        with self._db() as conn:
            row = conn.execute(
                "SELECT * FROM signing_keys WHERE login=? AND closed_at IS NULL ORDER BY id DESC", (login,)
            ).fetchone()
        return _key(row) if row else None

    def unlock(self, login: str, password: str, *, why_new: str = "first signature") -> Unlocked:
        """The person's open key, unlocked with ``password`` — or a new one sealed under it when
        they have none (first signature, or the first after a reset). The caller has checked the
        password already; a key that does not open with it is refused all the same."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT * FROM signing_keys WHERE login=? AND closed_at IS NULL ORDER BY id DESC", (login,)
            ).fetchone()
        if row is not None:
            return Unlocked(_key(row), unseal(row["sealed"], row["kdf"], password), created=False)
        private = Ed25519PrivateKey.generate()
        sealed, kdf = seal(private, password)
        now = self.clock()
        public = public_key_line(private.public_key())
        with self._db() as conn:
            conn.execute(
                "INSERT INTO signing_keys (login, public_key, sealed, kdf, created_at, why) VALUES (?,?,?,?,?,?)",
                (login, public, sealed, kdf, now.isoformat(), why_new),
            )
        return Unlocked(PersonalKey(login, public, now, why_new), private, created=True)

    def forget_new(self, unlocked: Unlocked) -> None:
        """Drop a key made for a signature that was then not written (it was never listed)."""
        with self._db() as conn:
            conn.execute(
                "DELETE FROM signing_keys WHERE login=? AND public_key=?", (unlocked.key.login, unlocked.key.public_key)
            )

    def reseal(self, login: str, old_password: str, new_password: str) -> bool:
        """A password change: the open key sealed again under the new password (False: none)."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT * FROM signing_keys WHERE login=? AND closed_at IS NULL ORDER BY id DESC", (login,)
            ).fetchone()
            if row is None:
                return False
            private = unseal(row["sealed"], row["kdf"], old_password)
            sealed, kdf = seal(private, new_password)
            conn.execute("UPDATE signing_keys SET sealed=?, kdf=? WHERE id=?", (sealed, kdf, row["id"]))
        return True

    def close(self, login: str, why: str) -> PersonalKey | None:
        """Close the person's open key (a reset, a deactivation); returns it, None when none."""
        now = self.clock()
        with self._db() as conn:
            row = conn.execute(
                "SELECT * FROM signing_keys WHERE login=? AND closed_at IS NULL ORDER BY id DESC", (login,)
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE signing_keys SET closed_at=?, closed_why=?, sealed='' WHERE login=? AND closed_at IS NULL",
                (now.isoformat(), why, login),
            )
        return _key(row)

    def reset_pending(self, login: str) -> bool:
        """Whether the person's last key was closed by a password reset and no new one made."""
        with self._db() as conn:
            row = conn.execute("SELECT * FROM signing_keys WHERE login=? ORDER BY id DESC", (login,)).fetchone()
        return bool(row and row["closed_at"] and row["closed_why"] == "password reset")


def _key(row) -> PersonalKey:
    return PersonalKey(row["login"], row["public_key"], datetime.fromisoformat(row["created_at"]), row["why"])


class InstanceKey:
    """The instance's signing key: ``signing_key`` (OpenSSH format, mode 0600) in the instance."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._private: Ed25519PrivateKey | None = None
        self._read_as: tuple[int, int] | None = None  # the file's (inode, mtime) when read

    @staticmethod
    def generate() -> str:
        key = Ed25519PrivateKey.generate()
        return key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()

    def write(self, text: str) -> None:
        """Store ``text`` as the key (readable by the owner only), replacing any earlier one."""
        temporary = self.path.with_name(self.path.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(temporary, self.path)
        self._private = None

    def exists(self) -> bool:
        return self.path.is_file()

    def text(self) -> str:
        return self.path.read_text()

    @property
    def private(self) -> Ed25519PrivateKey:
        """The key, read again whenever the file was replaced (``docctl keys rotate`` in another
        process: every server process signs with the new key from its next commit on)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise ConfigError(f"{self.path} is missing: this instance has no signing key") from None
        if self._private is None or self._read_as != (stat.st_ino, stat.st_mtime_ns):
            self._read_as = (stat.st_ino, stat.st_mtime_ns)
            try:
                key = load_ssh_private_key(self.path.read_bytes(), password=None)
            except FileNotFoundError:
                raise ConfigError(f"{self.path} is missing: this instance has no signing key") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError(f"{self.path} is not an Ed25519 key")
            self._private = key
        return self._private

    @property
    def public_key(self) -> str:
        return public_key_line(self.private.public_key())

    def sign(self, payload: bytes) -> str:
        return sign(self.private, payload)
