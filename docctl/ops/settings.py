"""Settings, declared once as data: name, default, help (after datasette).

Loaded in this order, later wins: defaults → ``<instance>/docctl.toml`` → ``DOCCTL_<NAME>``
environment variables → a test config passed to ``create_app``. The README documents every
setting (a test checks it).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("PUBLIC_READ", False, "Let anyone on the network read current documents without logging in."),
    Setting("SEARCH_LANGUAGE", "pl", "Language of full-text analysis: `pl` (Polish stemming) or `en`."),
    Setting("TIMEZONE", "Europe/Warsaw", "Time zone in which effective dates and review dates are days."),
    Setting("LANGUAGE", "pl", "Interface language for people who have not chosen one: `pl` or `en`."),
    Setting("BASE_URL", "", "The address people use (https://…/), for links in PDFs; empty: the request's."),
    Setting("SITE_NAME", "docctl", "Name shown in the page header (e.g. the office's name)."),
    Setting("SERVICE_NAME", "docctl", "Committer name on every commit docctl writes (the author is the person)."),
    Setting("SERVICE_EMAIL", "docctl@localhost", "Committer e-mail on every commit docctl writes."),
    Setting("MAX_CONTENT_LENGTH", 1024 * 1024, "Largest request body in bytes; larger requests get 413."),
    Setting("MAX_DOCUMENT_BYTES", 512 * 1024, "Largest document source in bytes."),
    Setting("RENDER_CACHE_SIZE", 2048, "How many rendered documents to keep in memory (keyed by blob id)."),
    Setting("SEARCH_LOCK_TIMEOUT", 30.0, "Seconds a search-index writer waits for the index lock."),
    Setting("SESSION_COOKIE_SECURE", False, "Send the session cookie only over HTTPS (set behind TLS)."),
    Setting("SESSION_IDLE_MINUTES", 30, "A login session unused this many minutes ends (log in again)."),
    Setting("SESSION_LIFETIME_HOURS", 12, "A login session ends this many hours after logging in, however used."),
    Setting(
        "LOGIN_FAILURES_PER_ADDRESS",
        20,
        "Wrong passwords from one client address (any accounts) in 15 minutes before it is locked out.",
    ),
    Setting("PROXY_HOPS", 0, "Reverse proxies in front of docctl whose X-Forwarded-For/-Proto to trust (0: none)."),
    Setting("SMTP_HOST", "", "Mail server for notifications; empty: no e-mail, messages wait in the outbox."),
    Setting("SMTP_PORT", 0, "Mail server port (0: 25, 587 with starttls, 465 with tls)."),
    Setting("SMTP_TLS", "none", "`none`, `starttls` or `tls` (implicit TLS)."),
    Setting("SMTP_USER", "", "Login at the mail server (empty: none)."),
    Setting("SMTP_PASSWORD", "", "Password at the mail server."),
    Setting("MAIL_FROM", "docctl@localhost", "Sender address of notifications."),
    Setting("DIGEST_HOUR", 7, "Daily digests go out at the first run after this hour (local time)."),
    Setting(
        "NOTIFY_INTERVAL",
        60,
        "`docctl serve` sends notifications every this many seconds (0: only `docctl notify`).",
    ),
    Setting(
        "DATABASE_URL",
        "",
        "PostgreSQL database shared by the nodes (`postgresql://user:password@host/name`) for accounts, "
        "tokens, sessions, read confirmations and the outbox; empty: SQLite files in the instance.",
    ),
    Setting("GIT_REMOTE", "", "Git remote shared by the nodes (path, ssh:// or https://); empty: none."),
    Setting(
        "NODE_NAME",
        "",
        "This node's name on GIT_REMOTE (refs/docctl/nodes/<name>: the head of main it pushed last), "
        "named when main is moved back; empty: the host name.",
    ),
    Setting(
        "LDAP_URL", "", "The office's directory (`ldap://` or `ldaps://`) for sign-in; empty: local accounts only."
    ),
    Setting("LDAP_BIND_DN", "", "The account docctl searches the directory as (empty: anonymous search)."),
    Setting("LDAP_BIND_PASSWORD", "", "That account's password."),
    Setting(
        "LDAP_USER_BASE", "", "Where people are searched in the directory (e.g. `ou=people,dc=um,dc=example,dc=pl`)."
    ),
    Setting(
        "LDAP_USER_FILTER",
        "(uid={login})",
        "The search for the login typed, `{login}` standing for it; Active Directory: `(sAMAccountName={login})`.",
    ),
    Setting("LDAP_START_TLS", False, "Upgrade an `ldap://` connection with StartTLS before any password is sent."),
    Setting(
        "LDAP_GROUPS",
        {},
        'A table in docctl.toml: a group\'s DN = `"role[:UNIT,UNIT…]"`, the roles and units the group gives.',
    ),
    Setting("SYNC_INTERVAL", 30, "`docctl serve` syncs with GIT_REMOTE every N seconds (0: only `docctl sync`)."),
    Setting("REVIEW_DUE_SOON_DAYS", 30, "A periodic review is listed as due soon this many days ahead."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def defaults() -> dict:
    return {s.name: s.default for s in SETTINGS}


def _coerce(name: str, raw: str) -> object:
    default = _BY_NAME[name].default
    if isinstance(default, dict):
        try:
            value = json.loads(raw)
        except ValueError:
            raise ConfigError(f"DOCCTL_{name} must be a JSON object (or set it as a table in docctl.toml)") from None
        if not isinstance(value, dict):
            raise ConfigError(f"DOCCTL_{name} must be a JSON object")
        return value
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"DOCCTL_{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"DOCCTL_{name} must be a whole number, not {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"DOCCTL_{name} must be a number, not {raw!r}") from None
    return raw


def load(instance: Path, overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Resolve every setting for an instance folder; unknown keys in the file are an error."""
    environ = os.environ if environ is None else environ
    values = defaults()
    path = instance / "docctl.toml"
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        unknown = sorted(set(data) - set(_BY_NAME))
        if unknown:
            raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
        values.update(data)
    for name in _BY_NAME:
        if f"DOCCTL_{name}" in environ:
            values[name] = _coerce(name, environ[f"DOCCTL_{name}"])
    values.update(overrides or {})
    return values
