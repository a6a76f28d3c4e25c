"""``.docctl/allowed_signers`` on ``main``: who owns which signing key, and since and until when.

git's own format (``gpg.ssh.allowedSignersFile``, see ssh-keygen(1) "ALLOWED SIGNERS"), so an
auditor checks every commit with stock git and this file alone::

    qm@um.example.pl namespaces="git",valid-after="20261204101500" ssh-ed25519 AAAA… Anna Nowak

The principal is the person's e-mail (the instance's key: ``SERVICE_EMAIL``); times are UTC
(``YYYYMMDDHHMMSS``; ssh-keygen before OpenSSH 9.4 reads them in the local zone, so the README's
commands run with ``TZ=UTC``). A key replaced or closed gets ``valid-before``; its line stays, so
signatures made while it was valid still verify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from .errors import Invalid
from .sshsig import raw_key_of_line

PATH = ".docctl/allowed_signers"
_TIME = "%Y%m%d%H%M%S"
_OPTION = re.compile(r'([a-z-]+)(?:="([^"]*)")?')


@dataclass(frozen=True)
class SignerKey:
    principal: str
    key: str  # "ssh-ed25519 AAAA…"
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    comment: str = ""

    @property
    def raw(self) -> bytes:
        return raw_key_of_line(self.key)

    def valid_at(self, when: datetime) -> bool:
        if self.valid_after is not None and when < self.valid_after:
            return False
        return self.valid_before is None or when < self.valid_before

    def line(self) -> str:
        options = ['namespaces="git"']
        if self.valid_after is not None:
            options.append(f'valid-after="{_stamp(self.valid_after)}"')
        if self.valid_before is not None:
            options.append(f'valid-before="{_stamp(self.valid_before)}"')
        comment = " ".join(self.comment.split())
        return " ".join(filter(None, [self.principal, ",".join(options), self.key, comment]))


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_TIME)


def _time(text: str) -> datetime:
    return datetime.strptime(text.rstrip("Zz").ljust(14, "0"), _TIME).replace(tzinfo=UTC)


def parse(text: str) -> list[SignerKey]:
    """Every key line of an allowed-signers file (comments and blank lines skipped)."""
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(" ")
        principal, rest = parts[0], parts[1:]
        options: dict[str, str] = {}
        if rest and not rest[0].startswith("ssh-"):
            options = {m.group(1): m.group(2) or "" for m in _OPTION.finditer(rest[0])}
            rest = rest[1:]
        if len(rest) < 2:
            raise Invalid("allowed_signers line %(number)s has no key", number=number)
        try:
            after = _time(options["valid-after"]) if "valid-after" in options else None
            before = _time(options["valid-before"]) if "valid-before" in options else None
        except ValueError:
            raise Invalid("allowed_signers line %(number)s has a malformed time", number=number) from None
        keys.append(SignerKey(principal, f"{rest[0]} {rest[1]}", after, before, " ".join(rest[2:])))
    return keys


def render(keys: list[SignerKey]) -> str:
    head = "# Signing keys of docctl: principal, validity (UTC), key, whose. Written by docctl only.\n"
    return head + "".join(key.line() + "\n" for key in keys)


def closed(keys: list[SignerKey], principal: str, at: datetime) -> list[SignerKey]:
    """``keys`` with every open key of ``principal`` valid only before ``at``."""
    return [replace(k, valid_before=at) if k.principal == principal and k.valid_before is None else k for k in keys]
