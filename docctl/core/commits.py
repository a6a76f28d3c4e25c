"""Commits as docctl reads and writes them: identities, parsed trailers, well-formed messages.

Pure data, no git process: the git store (:mod:`docctl.stores.git`) fills these in, and every
layer above reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from .errors import Invalid, refuse_control_characters


@dataclass(frozen=True)
class Identity:
    """A person or service as git records it."""

    name: str
    email: str

    def __post_init__(self) -> None:
        for value in (self.name, self.email):
            if not value or any(c in value for c in "<>\n\r\0"):
                raise Invalid("invalid identity %(value)s for a git commit", value=repr(value))

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Commit:
    """One commit as docctl reads it: ids, people, time, message and parsed trailers."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Identity
    committer: Identity
    authored_at: datetime
    committed_at: datetime
    message: str
    trailers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def _by_key(self) -> dict[str, list[str]]:
        # Built on first use and kept on the instance without functools.cached_property, whose
        # per-access lock (Python 3.11) made 280,000 lookups in `verify` cost 12 s.
        by_key = self.__dict__.get("_trailer_index")
        if by_key is None:
            by_key = {}
            for k, v in self.trailers:
                by_key.setdefault(k.lower(), []).append(v)
            object.__setattr__(self, "_trailer_index", by_key)
        return by_key

    def trailer(self, key: str, default: str | None = None) -> str | None:
        values = self._by_key().get(key.lower())
        return values[0] if values else default

    def trailer_values(self, key: str) -> list[str]:
        return list(self._by_key().get(key.lower(), ()))


def format_message(subject: str, body: str = "", trailers: list[tuple[str, str]] | None = None) -> str:
    """Build a commit message whose trailers git parses (``%(trailers)``).

    Trailers must be the last paragraph, one ``Key: value`` per line, values on one line; the
    message ends with a newline (GitPython's gotcha: without it the last trailer is glued to
    whatever comes next).
    """
    for part in (subject, body, *(str(v) for _, v in trailers or ())):
        refuse_control_characters(part, "the text")
    subject = " ".join(subject.split()) or "docctl"
    parts = [subject]
    body = body.strip()
    if body:
        parts.append(body)
    if trailers:
        lines = []
        for key, value in trailers:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key):
                raise Invalid("invalid trailer key %(key)s", key=repr(key))
            lines.append(f"{key}: {' '.join(str(value).split())}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# -- commit objects, byte for byte (what a signature covers) -------------------------------------
_CRUD = " .,:;<>\"\\'"


def _ident(person: Identity, when: datetime) -> str:
    """``Name <email> SECONDS ZONE`` as ``git commit-tree`` writes it (its "crud" stripped from
    the ends of the name, as git does)."""
    zone = when.strftime("%z") or "+0000"
    return f"{person.name.strip(_CRUD)} <{person.email}> {int(when.timestamp())} {zone}"


def commit_object(
    tree: str, parents: list[str], message: str, *, author: Identity, committer: Identity, when: datetime
) -> bytes:
    """The commit object git would store for these (``git cat-file commit``), unsigned."""
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
    lines += [f"author {_ident(author, when)}", f"committer {_ident(committer, when)}"]
    return ("\n".join(lines) + "\n\n" + message).encode("utf-8")


def with_signature(payload: bytes, armored: str) -> bytes:
    """``payload`` with its ``gpgsig`` header (after the committer line, as ``git commit -S``)."""
    header, _, body = payload.partition(b"\n\n")
    folded = "\n ".join(armored.rstrip("\n").split("\n"))
    return header + b"\ngpgsig " + folded.encode("ascii") + b"\n\n" + body


def split_signature(raw: bytes) -> tuple[bytes, str | None]:
    """(the signed payload, the armored signature or None): the object without its ``gpgsig``
    header, as ``git verify-commit`` reads it."""
    header, sep, body = raw.partition(b"\n\n")
    kept, signature, inside = [], [], False
    for line in header.split(b"\n"):
        if line.startswith(b"gpgsig "):
            inside = True
            signature.append(line[len(b"gpgsig ") :])
        elif inside and line.startswith(b" "):
            signature.append(line[1:])
        else:
            inside = False
            kept.append(line)
    if not signature:
        return raw, None
    return b"\n".join(kept) + sep + body, b"\n".join(signature).decode("ascii", "replace") + "\n"
