"""``/healthz`` (issue 31): each part of an instance with a status, and one HTTP status a load
balancer can act on — 503 while this process prepares or when git or the database cannot be
read (take it out of rotation), 200 otherwise, a part that lags reported as ``degraded``."""

from __future__ import annotations

from datetime import datetime

from ..core.errors import DocctlError
from .instance import Instance

OUTBOX_LATE_MINUTES = 60  # a pending message older than this: mail is not going out


def health(instance: Instance) -> tuple[int, dict]:
    """(HTTP status, body): ``status`` is ``ok``, ``degraded``, ``starting`` or ``failing``."""
    parts: dict[str, dict] = {}
    head = None
    try:
        head = instance.store.head()
        parts["git"] = {"status": "ok", "main": head}
    except DocctlError as exc:
        parts["git"] = {"status": "failing", "error": str(exc)[:200]}
    try:
        backlog = instance.outbox.backlog()
        parts["database"] = {"status": "ok", "kind": instance.databases["accounts"].dialect}
        oldest = backlog["oldest_pending"]
        late = (
            oldest is not None
            and (instance.clock() - datetime.fromisoformat(oldest)).total_seconds() > OUTBOX_LATE_MINUTES * 60
        )
        parts["outbox"] = {"status": "degraded" if late or backlog["failed"] else "ok", **backlog}
    except DocctlError as exc:
        parts["database"] = {"status": "failing", "error": str(exc)[:200]}
        parts["outbox"] = {"status": "unknown"}
    indexed = instance.search.indexed_commit()
    parts["search_index"] = {
        "status": "ok" if indexed and indexed == head else ("missing" if not indexed else "degraded"),
        "commit": indexed,
    }
    indexed_all = instance.search_all.indexed_commit()
    parts["all_revisions_index"] = {
        "status": "ok" if indexed_all and indexed_all == head else ("building" if not indexed_all else "degraded"),
        "commit": indexed_all,
    }
    parts["audit_trail"] = {"status": "ok" if instance.catalog.trail.changes_built() else "building"}
    if instance.replicator is None:
        parts["remote"] = {"status": "none"}
    else:
        sync = instance.replicator.status()
        bad = sync["error"] or sync["diverged"] or sync["moved_back"] or sync["ahead"]
        parts["remote"] = {"status": "degraded" if bad else "ok", **sync}
    preparing = not instance.preparation.ready.is_set()
    if preparing:
        status = "starting"
    elif any(parts[name]["status"] == "failing" for name in ("git", "database")):
        status = "failing"
    elif any(part["status"] not in ("ok", "none") for part in parts.values()):
        status = "degraded"
    else:
        status = "ok"
    body = {
        "status": status,
        "parts": parts,
        # the fields this endpoint always had
        "main": head,
        "catalog": instance.catalog.recorded_commit() if not preparing else None,
        "search_index": indexed,
        "search_fresh": indexed == head,
        "search_all_index": indexed_all,
        "audit_trail": "complete" if parts["audit_trail"]["status"] == "ok" else "building",
        "outbox": instance.outbox.counts() if parts["database"]["status"] == "ok" else None,
        "replication": instance.replicator.status() if instance.replicator else None,
    }
    if preparing:
        body["preparing"] = instance.preparation.progress()
    return (503 if status in ("starting", "failing") else 200), body
