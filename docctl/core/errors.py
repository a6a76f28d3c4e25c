"""The domain's failures, one class per thing a user or caller can get wrong.

Each edge translates them once: the web layer maps ``http_status`` to a response in a single
error handler, the CLI turns them into a one-line ``click.ClickException``. Core code never
signals "not found" with ``None`` and never imports Flask to report an error.
"""

from __future__ import annotations

import re


class DocctlError(Exception):
    """Base of every domain error. ``code`` is the stable machine-readable name used in the API."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, detail: dict | None = None, **params) -> None:
        """``message`` may hold ``%(name)s`` fields filled from ``params``: pages translate the
        template and fill it in the reader's language; the API and the CLI read ``message``."""
        self.template, self.params = message, params
        self.message = message % params if params else message
        super().__init__(self.message)
        self.detail = detail or {}


class Invalid(DocctlError):
    """Raised by validators (IDs, paths, front matter, policy, requests) for well-formed but wrong input."""

    code = "invalid"
    http_status = 422


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def refuse_control_characters(text: str, what: str) -> str:
    """``text`` unless it holds a C0 control character other than tab and line breaks: git refuses
    NUL in a commit message, and in a document or a signature's comment none of them means anything."""
    found = _CONTROL.search(text)
    if found:
        raise Invalid(
            "%(what)s contains the control character U+%(value)s; remove it",
            what=what,
            value=format(ord(found.group()), "04X"),
        )
    return text


class Malformed(DocctlError):
    """Raised by the edges when a request cannot even be parsed (bad JSON, bad UTF-8)."""

    code = "malformed"
    http_status = 400


class NotFound(DocctlError):
    """Raised by readers (repo, catalog, users, workflow) when the thing asked for does not exist."""

    code = "not_found"
    http_status = 404


class Conflict(DocctlError):
    """Raised by the git store when a compare-and-swap loses, and by the workflow for stale edits."""

    code = "conflict"
    http_status = 409


class MergeConflict(Conflict):
    """Raised by the workflow when updating a change onto the current revision meets a real
    conflict: nothing is recorded; ``detail`` carries the merged text with both sides marked."""

    code = "merge_conflict"


class Unauthorized(DocctlError):
    """Raised by users/auth when credentials are missing or wrong (including the signing password)."""

    code = "unauthorized"
    http_status = 401


class Forbidden(DocctlError):
    """Raised by the workflow and the web layer when the person is known but may not do this."""

    code = "forbidden"
    http_status = 403


class Unavailable(DocctlError):
    """Something docctl needs is not there now: the index of all revisions still being built, the
    PostgreSQL server down. Try again later (503)."""

    code = "unavailable"
    http_status = 503


def disk_full() -> Unavailable:
    """The disk holding the instance is full (issue 31). Git writes objects and moves refs whole
    or not at all, and SQLite rolls a statement back, so nothing was half-written."""
    return Unavailable(
        "the disk holding the instance is full: nothing was written; free space and try again", detail={"disk": "full"}
    )


class TooLarge(DocctlError):
    """Raised by the edges when a request body or document exceeds the configured limit."""

    code = "too_large"
    http_status = 413


class Throttled(DocctlError):
    """Raised by users when too many wrong passwords were given; the caller must wait."""

    code = "throttled"
    http_status = 429


class ConfigError(DocctlError):
    """Raised by config and instance loading: a missing secret key, an unreadable setting."""

    code = "config"
    http_status = 500
