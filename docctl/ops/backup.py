"""``docctl backup OUT`` and ``docctl restore IN`` (issue 31): everything an instance holds that
cannot be rebuilt, copied consistently while it serves, and an instance made from such a copy.

What is in a backup folder:

- ``repository.bundle`` — every ref of the repository (``main``, change branches, anchors) as one
  git bundle (``git clone`` reads it); ``reflogs.tar`` — every ref's reflog, which a bundle does
  not carry and ``docctl verify`` needs (how ``main`` moved is evidence);
- ``databases/`` — ``users.sqlite3``, ``acks.sqlite3``, ``outbox.sqlite3`` copied through SQLite's
  online backup API, or ``database.pgdump`` (``pg_dump --format=custom``) with ``DATABASE_URL``:
  people, tokens, sessions, signing keys (sealed), read confirmations, the account journal, the
  outbox;
- ``instance/`` — ``docctl.toml``, ``secret_key`` and ``signing_key`` (the instance's private key:
  keep backups where only administrators can read them);
- ``backup.json`` — what was copied and when; ``MANIFEST.sha256`` — every file's SHA-256, in
  ``sha256sum`` format (``sha256sum -c MANIFEST.sha256`` checks a copy without docctl).

Consistency: the refs and the databases are read under the repository's write lock, so no
release lands half-way and every journal head an anchor names is in the databases; the reflogs
(cut at the move that set each ref's value read) and the bundle are read after the lock is
released (git objects never change, reflogs only grow). A release waits for the lock for about
a second, at 2,000 × 20 as at 20,000 × 10. The catalog, the audit trail and the search
indexes are not copied: they are derived, and a restored instance builds them at its first start.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.clock import utc_now
from ..core.errors import Conflict, Invalid
from ..stores.database import PostgresDatabase, SqliteDatabase
from ..stores.dumps import copy_sqlite, dump_postgres, restore_postgres
from ..stores.git import GitStore, Snapshot
from ..stores.git.copies import reflogs_from_tar, reflogs_tar
from ..version import __version__
from . import settings as settings_schema
from .instance import SQLITE_FILES, Instance

FORMAT = 1
INSTANCE_FILES = ("docctl.toml", "secret_key", "signing_key")
SECRET_FILES = ("secret_key", "signing_key")
PG_DUMP = "database.pgdump"
MANIFEST = "MANIFEST.sha256"


@dataclass
class BackupReport:
    folder: Path
    main: str
    refs: int
    database: str
    seconds: float
    locked_seconds: float  # how long writers waited
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class RestoreReport:
    root: Path
    main: str
    refs: int
    database: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


def backup(instance: Instance, out: Path, *, progress: Callable[[str], None] = lambda _: None) -> BackupReport:
    """Copy ``instance`` into the new folder ``out`` (see the module's docstring)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict("%(out)s already exists: a backup goes into a new folder", out=out)
    started = time.monotonic()
    (out / "databases").mkdir(parents=True, exist_ok=True)
    (out / "instance").mkdir(exist_ok=True)
    shared = instance.databases["accounts"]
    with instance.store.write_lock(timeout=60):
        locked = time.monotonic()
        refs = instance.store.snapshot_refs()
        if isinstance(shared, PostgresDatabase):
            dump_postgres(shared, out / "databases" / PG_DUMP)
        else:
            for store, name in SQLITE_FILES.items():
                database = instance.databases[store]
                if isinstance(database, SqliteDatabase) and database.path.exists():
                    copy_sqlite(database, out / "databases" / name)
        locked_seconds = time.monotonic() - locked
    progress(f"{len(refs)} refs and the databases read ({locked_seconds:.1f} s under the write lock)")
    snapshot = instance.store.snapshot(refs)
    (out / "reflogs.tar").write_bytes(reflogs_tar(snapshot.reflogs))
    instance.store.bundle_refs(out / "repository.bundle", snapshot.refs)
    progress("repository bundle written")
    for name in INSTANCE_FILES:
        if (instance.root / name).exists():
            shutil.copy2(instance.root / name, out / "instance" / name)
            if name in SECRET_FILES:
                os.chmod(out / "instance" / name, 0o600)
    main = snapshot.refs.get("refs/heads/main", "")
    meta = {
        "format": FORMAT,
        "docctl": __version__,
        "made_at": utc_now().isoformat(timespec="seconds"),
        "instance": str(instance.root),
        "main": main,
        "refs": len(snapshot.refs),
        "database": shared.dialect,
    }
    (out / "backup.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    sizes = _write_manifest(out)
    return BackupReport(
        out, main, len(snapshot.refs), shared.dialect, time.monotonic() - started, locked_seconds, sizes
    )


def restore(source: Path, root: Path, *, progress: Callable[[str], None] = lambda _: None) -> RestoreReport:
    """Make the new instance ``root`` from the backup folder ``source``. With ``DATABASE_URL``
    (in the backup's ``docctl.toml`` or ``DOCCTL_DATABASE_URL``) the records go into that
    PostgreSQL database, which must be empty; otherwise into SQLite files in ``root``."""
    source, root = Path(source), Path(root)
    started = time.monotonic()
    meta = _checked(source)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise Conflict("%(root)s already exists: restore into a new instance folder", root=root)
    made = not root.exists()
    try:
        return _restore(source, root, meta, started, progress)
    except BaseException:
        if made:
            shutil.rmtree(root, ignore_errors=True)
        raise


def _restore(source: Path, root: Path, meta: dict, started: float, progress) -> RestoreReport:
    root.mkdir(parents=True, exist_ok=True)
    for name in INSTANCE_FILES:
        if (source / "instance" / name).exists():
            shutil.copy2(source / "instance" / name, root / name)
    url = str(settings_schema.load(root)["DATABASE_URL"])
    dump = source / "databases" / PG_DUMP
    if dump.exists() and not url:
        raise Invalid(
            "this backup holds a PostgreSQL database: set DATABASE_URL (DOCCTL_DATABASE_URL) to an empty "
            "database to restore it into"
        )
    if url:
        if dump.exists():
            restore_postgres(dump, PostgresDatabase(url))
            progress("database restored with pg_restore")
    else:
        for name in SQLITE_FILES.values():
            if (source / "databases" / name).exists():
                shutil.copy2(source / "databases" / name, root / name)
    store = GitStore.create(root / "repo.git")
    refs = _bundle_refs(source / "repository.bundle")
    reflogs = reflogs_from_tar((source / "reflogs.tar").read_bytes())
    store.restore_copy(source / "repository.bundle", Snapshot(refs, reflogs))
    progress(f"{len(refs)} refs and their reflogs restored")
    instance = Instance(root)
    if url and not dump.exists():  # a SQLite backup restored into PostgreSQL
        for name in SQLITE_FILES.values():
            if (source / "databases" / name).exists():
                shutil.copy2(source / "databases" / name, root / name)
        instance.copy_sqlite_records()
        progress("SQLite records copied into DATABASE_URL")
    instance.upgrade_databases()
    counts = {
        "people": len(instance.users.list()),
        "confirmations": len(instance.acks.chain()),
        "account events": len(instance.users.event_chain()),
        "queued messages": sum(instance.outbox.counts().values()),
    }
    return RestoreReport(
        root,
        refs.get("refs/heads/main", ""),
        len(refs),
        "postgresql" if url else "sqlite",
        time.monotonic() - started,
        counts,
    )


def _write_manifest(out: Path) -> dict[str, int]:
    sizes, lines = {}, []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST):
        name = path.relative_to(out).as_posix()
        sizes[name] = path.stat().st_size
        lines.append(f"{_sha256(path)}  {name}\n")
    (out / MANIFEST).write_text("".join(lines), encoding="utf-8")
    return sizes


def _checked(source: Path) -> dict:
    """backup.json, once every file the manifest lists is there with its hash."""
    manifest = source / MANIFEST
    if not manifest.is_file():
        raise Invalid("%(source)s is not a docctl backup (no MANIFEST.sha256)", source=source)
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        path = source / name
        if ".." in Path(name).parts or not path.is_file():
            raise Invalid("the backup lacks %(name)s", name=name)
        if _sha256(path) != digest:
            raise Invalid("%(name)s in the backup does not match its manifest: the copy is damaged", name=name)
    meta = json.loads((source / "backup.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise Invalid("the backup's format %(format)s is not one this docctl reads", format=meta.get("format"))
    return meta


def _bundle_refs(bundle: Path) -> dict[str, str]:
    refs = {}
    with open(bundle, "rb") as handle:
        if handle.readline() != b"# v2 git bundle\n":
            raise Invalid("repository.bundle is not a git bundle (v2)")
        for raw in handle:
            line = raw.decode().rstrip("\n")
            if not line:
                break
            sha, _, ref = line.partition(" ")
            refs[ref] = sha
    return refs


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
