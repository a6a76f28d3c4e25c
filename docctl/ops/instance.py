"""An instance folder and everything opened from it — the one place the parts are wired together.

Layout (the repository is the source of truth; the rest is either accounts or derived)::

    instance/
      repo.git/          bare documents repository (source of truth)
      docctl.toml        settings (optional)
      secret_key         generated at init; never a default
      users.sqlite3      accounts, password hashes, token hashes, throttling, sessions
      acks.sqlite3       read confirmations (append-only)
      outbox.sqlite3     e-mail notifications waiting or sent
                         (these three: in PostgreSQL instead when DATABASE_URL is set)
      catalog.sqlite3    derived: document → revisions (rebuildable from git)
      search/            derived: Whoosh index (rebuildable from git)
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..audit.copies import CopyRegister
from ..audit.evidence import NAMESPACE as EVIDENCE_NAMESPACE
from ..audit.evidence import build as build_evidence
from ..audit.verify import AccountHistory
from ..audit.verify import verify as verify_history
from ..core import allowed_signers
from ..core.clock import utc_now
from ..core.commits import Identity
from ..core.errors import ConfigError, Conflict, DocctlError, Forbidden, Invalid, Unavailable
from ..core.policy import Policy, default_policy
from ..core.render import RenderCache
from ..core.sshsig import fingerprint, raw_key_of_line
from ..core.sshsig import sign as sign_file
from ..derived.catalog import Catalog
from ..derived.indexing import Indexer
from ..derived.search import SearchIndex
from ..mail.notifications import Notifier
from ..stores import confirmations, keys, outbox, people, sessions
from ..stores.accounts import Accounts
from ..stores.confirmations import AckStore
from ..stores.database import Database, PostgresDatabase, Schema, SqliteDatabase, shared_value
from ..stores.directory import Directory
from ..stores.git import GitStore
from ..stores.keys import InstanceKey, KeyStore
from ..stores.locks import exclusive
from ..stores.outbox import Outbox
from ..stores.people import UserStore, check_password_policy, validate_person
from ..stores.replication import Replicator
from ..stores.sessions import SessionStore
from ..workflow import Workflow
from . import settings as settings_schema
from .database_copy import CopyReport, copy_into
from .preparation import Preparation
from .startup import StartUp

# The stores whose records exist nowhere else, their tables, and their files when embedded.
SQLITE_FILES = {"accounts": "users.sqlite3", "acks": "acks.sqlite3", "outbox": "outbox.sqlite3"}
STORE_SCHEMAS = (
    ("accounts", people.SCHEMA),
    ("accounts", sessions.SCHEMA),
    ("accounts", keys.SCHEMA),
    ("acks", confirmations.SCHEMA),
    ("outbox", outbox.SCHEMA),
)


class Instance(StartUp):
    """Opened parts of one instance. Cheap: opening starts no process and holds no file open."""

    def __init__(
        self, root: Path | str, *, overrides: dict | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.root = Path(root)
        self._building: threading.Thread | None = None
        self._indexing: threading.Thread | None = None
        self.preparation = Preparation(self.root)
        self.settings = settings_schema.load(self.root, overrides)
        self.clock = clock
        self.store = GitStore(self.root / "repo.git")
        if not self.store.exists():
            raise ConfigError(f"{self.root} is not a docctl instance (no repo.git): run `docctl init` first")
        self.databases = self._open_databases()
        self.users = UserStore(
            self.databases["accounts"],
            clock=clock,
            address_failures=int(self.settings["LOGIN_FAILURES_PER_ADDRESS"]),
        )
        if self.settings["LDAP_URL"]:  # sign-in through the office's directory (issue 32)
            self.users.directory = Directory(
                str(self.settings["LDAP_URL"]),
                bind_dn=str(self.settings["LDAP_BIND_DN"]),
                bind_password=str(self.settings["LDAP_BIND_PASSWORD"]),
                user_base=str(self.settings["LDAP_USER_BASE"]),
                user_filter=str(self.settings["LDAP_USER_FILTER"]),
                start_tls=bool(self.settings["LDAP_START_TLS"]),
                groups=dict(self.settings["LDAP_GROUPS"]),
            )
        self.sessions = SessionStore(
            self.databases["accounts"],
            idle=timedelta(minutes=int(self.settings["SESSION_IDLE_MINUTES"])),
            lifetime=timedelta(hours=int(self.settings["SESSION_LIFETIME_HOURS"])),
            clock=clock,
        )
        self.accounts = Accounts(self.users, self.sessions)
        self.acks = AckStore(self.databases["acks"], clock=clock)
        self.catalog = Catalog(self.root / "catalog.sqlite3", self.store)
        self.search = SearchIndex(
            self.root / "search",
            language=self.settings["SEARCH_LANGUAGE"],
            lock_timeout=float(self.settings["SEARCH_LOCK_TIMEOUT"]),
        )
        # Signing keys (issue 29): the instance's signs every commit without a signer of its own.
        self.instance_key = InstanceKey(self.root / "signing_key")
        self.keys = KeyStore(self.databases["accounts"], clock=clock)
        self.store.signer = self._sign_as_instance
        self.render_cache = RenderCache(int(self.settings["RENDER_CACHE_SIZE"]))
        self.workflow = Workflow(
            self.store,
            self.catalog,
            check_password=self.users.check_signing_password,
            service=Identity(self.settings["SERVICE_NAME"], self.settings["SERVICE_EMAIL"]),
            clock=clock,
            timezone_name=self.settings["TIMEZONE"],
            max_document_bytes=int(self.settings["MAX_DOCUMENT_BYTES"]),
            keys=self.keys,
        )
        self.workflow.journal_heads = lambda: {
            "confirmations": self.acks.chain_head(),
            "account events": self.users.event_chain_head(),
        }
        self.workflow.instance_key_line = self._instance_public_key
        self.accounts.keys = self.keys
        self.accounts.close_signing_key = self.workflow.close_signing_key
        self.search_all = SearchIndex(
            self.root / "search-all",
            language=self.settings["SEARCH_LANGUAGE"],
            lock_timeout=float(self.settings["SEARCH_LOCK_TIMEOUT"]),
        )
        self.copies = CopyRegister(
            self.store,
            self.catalog,
            service=Identity(self.settings["SERVICE_NAME"], self.settings["SERVICE_EMAIL"]),
            clock=clock,
            today=self.today,
        )
        self.indexer = Indexer(self.catalog, self.store, self.search, self.workflow, self.search_all)
        self.catalog.listeners.append(self.indexer.on_main_records)
        self.workflow.change_listeners.append(self.indexer.on_change)
        self.outbox = Outbox(self.databases["outbox"], clock=clock)
        self.notifier = Notifier(self, self.outbox)
        self.workflow.local_change_listeners.append(self.notifier.on_change)
        self.workflow.signature_listeners.append(self.notifier.on_signature)
        self.accounts.send_temporary_password = self.notifier.temporary_password
        self.replicator = None
        if self.settings["GIT_REMOTE"]:
            self.replicator = Replicator(
                self.store, str(self.settings["GIT_REMOTE"]), clock=clock, node=str(self.settings["NODE_NAME"])
            )
            self.store.replicator = self.replicator
            self.replicator.on_pulled.append(self._pulled)
            self.workflow.sync = self.copies.sync = self.replicator.sync

    def _open_databases(self) -> dict[str, Database]:
        """Where the records git does not hold live: the instance's SQLite files, or one shared
        PostgreSQL database (``DATABASE_URL``) for every node."""
        url = str(self.settings["DATABASE_URL"])
        if url:
            shared = PostgresDatabase(url)
            return {"accounts": shared, "acks": shared, "outbox": shared}
        return {name: SqliteDatabase(self.root / file) for name, file in SQLITE_FILES.items()}

    def schemas(self) -> list[tuple[Database, Schema]]:
        """Every store's tables and the database holding them (``docctl db upgrade``)."""
        return [(self.databases[store], schema) for store, schema in STORE_SCHEMAS]

    def upgrade_databases(self) -> list[tuple[str, int, int]]:
        """Apply pending migrations (start-up and ``docctl db upgrade``)."""
        return [(schema.component, *database.upgrade(schema)) for database, schema in self.schemas()]

    def copy_sqlite_records(self) -> CopyReport:
        """``docctl db copy``: this instance's SQLite records into ``DATABASE_URL``."""
        sources = {store: self.root / file for store, file in SQLITE_FILES.items()}
        return copy_into(sources, self.databases["accounts"], STORE_SCHEMAS)

    def _pulled(self, refs: list[str]) -> None:
        """What a sync brought from the other nodes, into this node's derived data."""
        self.catalog.catch_up()  # and, through its listeners, the search index
        prefix = "refs/heads/changes/"
        changes = [int(ref[len(prefix) :]) for ref in refs if ref.startswith(prefix) and ref[len(prefix) :].isdigit()]
        if changes:
            self.workflow.absorb(changes)

    def sync(self):
        """``docctl sync``: a no-op report without ``GIT_REMOTE``."""
        if self.replicator is None:
            raise ConfigError("GIT_REMOTE is not set: this instance has no git remote to sync with")
        return self.replicator.sync()

    def _sign_as_instance(self, payload: bytes) -> str:
        if not self.instance_key.exists():  # an instance from before signing (issue 29)
            self._make_instance_key()
        return self.instance_key.sign(payload)

    def _instance_public_key(self) -> str:
        if not self.instance_key.exists():
            self._make_instance_key()
        return self.instance_key.public_key

    def _make_instance_key(self) -> None:
        """Write the instance's signing key; with a shared database, every node's copy of the
        key the first node made (like the cookie key)."""
        with exclusive(self.root / "signing-key.lock", timeout=30, busy="the signing key is being made"):
            if self.instance_key.exists():
                return
            text = InstanceKey.generate()
            shared = self.databases["accounts"]
            if shared.dialect != "sqlite":
                text = shared_value(shared, "instance_signing_key", text)
            self.instance_key.write(text)

    def list_instance_key(self) -> str | None:
        """List this instance's key in ``allowed_signers`` if it is not (an instance from before
        signing: its history is "signed from" that commit on). None when listed already."""
        if not self.store.has_ref("refs/heads/main"):
            return None
        if not self.instance_key.exists():
            self._make_instance_key()
        return self.workflow.list_instance_key(self.instance_key.public_key)

    def rotate_instance_key(self) -> str:
        """``docctl keys rotate``: a new key in ``signing_key``, the old one closed in
        ``allowed_signers`` by the commit it signs last; returns that commit."""
        self.list_instance_key()
        text = InstanceKey.generate()
        new = InstanceKey(self.instance_key.path.with_name("signing_key.next"))
        new.write(text)
        try:
            return self.workflow.rotate_instance_key(
                self.instance_key.public_key, new.public_key, lambda: self.instance_key.write(text)
            )
        finally:
            new.path.unlink()

    def evidence(self, out: Path, *, as_of: date | None = None, unit: str | None = None):
        """``docctl evidence``: the package for an external auditor (see audit/evidence.py)."""
        at = as_of or self.today()
        self.catalog.catch_up()
        self.list_instance_key()  # before main is read: a listing commit would be missed otherwise
        end = datetime.combine(at, time(23, 59, 59), tzinfo=ZoneInfo(self.settings["TIMEZONE"]))
        found = self.store.log("refs/heads/main", first_parent=True, max_count=1, until=end.isoformat())
        if not found:
            raise Invalid("main has no history on or before %(day)s", day=at.isoformat())
        head = self.store.head("refs/heads/main")
        report = self.verify(full=True)  # the certification body's copy checks everything
        return build_evidence(
            Path(out),
            store=self.store,
            catalog=self.catalog,
            main_as_of=found[0],
            as_of=at,
            unit=unit,
            people=self.users.list(),
            confirmations_of=self.acks.for_documents,
            verify_report=report,
            allowed_signers=self.store.read_file(head, allowed_signers.PATH).decode("utf-8"),
            principal=self.workflow.instance_principal(),
            sign=lambda data: sign_file(self.instance_key.private, data, EVIDENCE_NAMESPACE),
            fingerprint=fingerprint(raw_key_of_line(self.instance_key.public_key)),
            signed_from=report.signed_from,
        )

    @property
    def secret_key(self) -> str:
        path = self.root / "secret_key"
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            raise ConfigError(f"{path} is missing: this instance has no secret key (run `docctl init`)") from None
        if len(key) < 32:
            raise ConfigError(f"{path} is too short to be a secret key")
        return key

    def today(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings["TIMEZONE"])).date()

    def verify(self, *, full: bool = False, progress=lambda _: None):
        """Check the history from git and the journals (``docctl verify [--full]``): without
        ``full``, only what came after the last verified anchor. A verification that finds
        nothing wrong is recorded as a verified anchor, where the next one starts."""
        accounts = AccountHistory(self.users.list(), self.users.created(), self.users.account_events())
        journals = {"confirmations": self.acks.chain(), "account events": self.users.event_chain()}
        key = raw_key_of_line(self.instance_key.public_key) if self.instance_key.exists() else None
        if full or not self.store.has_commit_graph():  # what a verified anchor reached is left out fast;
            self.store.update_commit_graph()  # the few commits since the last layer cost a walk nothing
        report = verify_history(self.store, accounts, journals=journals, progress=progress, full=full, instance_key=key)
        if report.state is not None and (report.mode == "full" or report.advanced):
            try:
                self.workflow.anchor(
                    "verified", verified=(report.state["main"], report.mode, _state_bytes(report.state))
                )
            except DocctlError:  # the check stands; the next one starts from further back
                logging.getLogger("docctl").warning("recording the verification failed", exc_info=True)
        return report

    @classmethod
    def create(
        cls,
        root: Path | str,
        *,
        admin_login: str,
        admin_password: str,
        admin_name: str = "Administrator",
        admin_email: str = "admin@localhost",
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utc_now,
        overrides: dict | None = None,
    ) -> Instance:
        """``docctl init``: repository with the policy, a fresh secret key and the first admin.
        With ``GIT_REMOTE`` naming a remote that already has ``main``, the new instance joins
        that history as another node instead of starting one (issue 14)."""
        root = Path(root)
        if (root / "repo.git").exists():
            raise Conflict("%(root)s already holds a docctl instance", root=root)
        # Refuse bad input before anything is written, and leave nothing half-made behind.
        validate_person(admin_login, admin_name, admin_email, ["admin"], [])
        check_password_policy(admin_password, admin_login)
        existed = root.exists()
        try:
            return cls._create(root, admin_login, admin_password, admin_name, admin_email, policy, clock, overrides)
        except BaseException:
            for name in (
                "repo.git",
                "secret_key",
                "signing_key",
                "users.sqlite3",
                "acks.sqlite3",
                "outbox.sqlite3",
                "catalog.sqlite3",
                "search",
                "search-all",
            ):
                target = root / name
                if target.is_dir():
                    shutil.rmtree(target, ignore_errors=True)
                elif target.exists():
                    target.unlink()
            if not existed:
                shutil.rmtree(root, ignore_errors=True)
            raise

    @classmethod
    def _create(cls, root, admin_login, admin_password, admin_name, admin_email, policy, clock, overrides) -> Instance:
        root.mkdir(parents=True, exist_ok=True)
        GitStore.create(root / "repo.git")
        instance = cls(root, clock=clock, overrides=overrides)
        shared = instance.databases["accounts"]
        key = secrets.token_urlsafe(48)
        if shared.dialect != "sqlite":  # every node signs cookies with the same key
            key = shared_value(shared, "secret_key", key)
        fd = os.open(root / "secret_key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        if shared.dialect != "sqlite" and instance.users.list():
            # Another node made the accounts: the administrator named here must be one of them.
            admin = instance.users.authenticate(admin_login, admin_password)
            if not admin.has_role("admin"):
                raise Forbidden("joining a node takes an administrator of the shared database")
        else:
            admin = instance.users.add(
                admin_login, name=admin_name, email=admin_email, roles=["admin"], password=admin_password
            )
        joined = False
        if instance.replicator is not None:
            report = instance.replicator.sync()
            if report.error:
                raise Unavailable("the git remote cannot be reached: %(error)s", error=report.error[-200:])
            joined = instance.store.has_ref("refs/heads/main")
        instance._make_instance_key()
        if not joined:
            key = instance.instance_key.public_key
            instance.workflow.initialize(admin, policy or default_policy(), instance_key=key)
        instance.start()
        return instance


def _state_bytes(state: dict) -> bytes:
    return (json.dumps(state, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode()
