"""Releases replicated through a git remote (issue 14): ``GIT_REMOTE``, ``docctl sync``.

The remote (a bare repository by path, ``ssh://`` or ``https://``: a Gitea or GitLab project) is
where several nodes meet; every node keeps its own full repository, so it serves and verifies
alone. The rules are the local ones, stretched across the network:

- **Remote first.** A write (a release, a step of a change, a withdrawal, a copy) is pushed with
  ``git push --atomic --force-with-lease=REF:OLD`` before this node's own refs move; only when the
  remote took it does the local ``update-ref`` follow. A node killed between the two finds its
  write on the remote at the next sync: nothing is lost.
- **The remote moved.** The push is refused (another node wrote first): this node fetches,
  fast-forwards its refs, catches up its catalog, change index and search index, and the
  workflow runs the whole step again on the new head — the same checks as for two local writers:
  two releases of different documents both land; two of the same document: one lands, the
  other meets the usual 409 ("update onto the current revision").
- **The remote is down.** The write lands locally and stays valid; the node is *ahead* and every
  sync (``docctl sync``, ``docctl serve``'s schedule) pushes it until it lands, with the lag on
  ``/healthz`` and in the log. If another node wrote meanwhile, the branches *diverged*: nothing
  is overwritten on either side, ``/healthz`` and ``docctl sync`` name the refs for an
  administrator.
- **Never backwards** (issue 30). A node pushes ``main`` only forward, and with it
  ``refs/docctl/nodes/<NODE_NAME>``: the head it pushed. A sync that finds the remote's ``main``
  no longer containing what this node saw there last names the move and whose head it went back
  to (the node that pushed it, or "outside docctl"), then pushes its own ``main`` forward again
  when it contains the remote's; a node whose own ``main`` was moved back by hand names itself,
  pushes nothing and catches up from the remote.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core.clock import utc_now
from ..core.errors import Conflict, DocctlError
from .git import ZERO_SHA, GitStore

SYNC_MOVE = "docctl: sync from the git remote"  # the reflog's words; verify reads them

log = logging.getLogger("docctl.replication")
REPLICATED = ("refs/heads/",)
MAIN = "refs/heads/main"
NODES = "refs/docctl/nodes/"  # on the remote: the head of main each node pushed last
SEEN = "refs/docctl/remote/heads/main"  # here: the remote's main as this node last fetched it

PUSH_BATCH = 200  # refs per push (each a --force-with-lease and a refspec on git's command line)


class RemoteMoved(Conflict):
    """The remote's refs are not what this node expected: another node wrote first."""


@dataclass
class SyncReport:
    pulled: list[str] = field(default_factory=list)  # refs brought up to the remote
    pushed: list[str] = field(default_factory=list)  # refs this node had ahead, now on the remote
    ahead: list[str] = field(default_factory=list)  # still only here (remote unreachable)
    diverged: list[str] = field(default_factory=list)  # both sides wrote: an administrator decides
    moved_back: list[str] = field(default_factory=list)  # main moved backwards: where, and by whom
    error: str | None = None

    def as_json(self) -> dict:
        return {
            "pulled": len(self.pulled),
            "pushed": len(self.pushed),
            "ahead": self.ahead,
            "diverged": self.diverged,
            "moved_back": self.moved_back,
            "error": self.error,
        }


class Replicator:
    """Pushes this node's writes and pulls the others'; ``on_pulled(refs)`` lets the instance
    catch its derived data up with what arrived."""

    def __init__(
        self, store: GitStore, remote: str, *, clock: Callable[[], datetime] = utc_now, node: str = ""
    ) -> None:
        self.store = store
        self.remote = remote
        self.node = re.sub(r"[^A-Za-z0-9._-]+", "-", node or socket.gethostname()).strip(".-") or "node"
        self.clock = clock
        self.on_pulled: list[Callable[[list[str]], None]] = []
        self.last_sync: datetime | None = None
        self.last_report = SyncReport()
        self._lock = threading.Lock()

    # -- writes ------------------------------------------------------------------------------
    def before_update(self, updates: list[tuple[str, str, str]]) -> None:
        """Called by :meth:`GitStore.update_refs` before the local refs move."""
        for ref, new, old in updates:
            if ref == MAIN and old != ZERO_SHA and not self.store.is_ancestor(old, new):
                raise Conflict("node %(node)s refused to move main backwards", node=self.node)
        outcome = self.store.push_atomic(self.remote, updates, self._record(updates))
        if outcome.status == "ok":
            self.store.remember_pushed(updates)
            return
        if outcome.status == "rejected":
            raise RemoteMoved(
                "another node changed the shared repository first; this step runs again on its new state",
                detail={"git": outcome.detail[-300:]},
            )
        # Unreachable: the write stays valid here and is pushed by the next sync.
        log.warning("git remote unreachable, the write stays local until the next sync: %s", outcome.detail)
        self.last_report.ahead = sorted({*self.last_report.ahead, *(ref for ref, _, _ in updates)})

    # -- sync --------------------------------------------------------------------------------
    def sync(self) -> SyncReport:
        """Fetch, fast-forward what the others wrote, push what only this node has."""
        with self._lock, self.store.write_lock():
            report = SyncReport()
            seen = self.store.refs(SEEN).get(SEEN)
            try:
                remote = self.store.fetch_remote(self.remote, (*REPLICATED, NODES))
            except DocctlError as exc:
                report.error = str(exc)
                report.ahead = self._local_only_guess()
                self.last_report = report
                log.warning("git remote unreachable: %s", exc)
                return report
            nodes = {ref[len(NODES) :]: sha for ref, sha in remote.items() if ref.startswith(NODES)}
            remote = {ref: sha for ref, sha in remote.items() if not ref.startswith(NODES)}
            local = {ref: sha for prefix in REPLICATED for ref, sha in self.store.refs(prefix.rstrip("/")).items()}
            self._moved_back(seen, remote.get(MAIN), local.get(MAIN), nodes, report)
            pulls, pushes = [], []
            for ref in sorted(set(remote) | set(local)):
                mine, theirs = local.get(ref), remote.get(ref)
                if mine == theirs:
                    continue
                if mine is None or (theirs is not None and self.store.is_ancestor(mine, theirs)):
                    pulls.append((ref, theirs, mine or ZERO_SHA))
                elif theirs is None or self.store.is_ancestor(theirs, mine):
                    pushes.append((ref, mine, theirs or ZERO_SHA))
                else:
                    report.diverged.append(ref)
            self._push(pushes, report)
            if pulls:  # one transaction: every ref the others moved, or none
                self.store.update_refs(pulls, reason=SYNC_MOVE, local_only=True)
                report.pulled = [ref for ref, _, _ in pulls]
            if report.diverged:
                log.error("local and remote histories diverged (nothing overwritten): %s", ", ".join(report.diverged))
            self.last_sync = self.clock()
            self.last_report = report
        if report.pulled:
            for listener in self.on_pulled:
                listener(report.pulled)
        return report

    def _record(self, updates: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """This node's head of main, pushed with main (who wrote what the remote holds)."""
        return [(NODES + self.node, new) for ref, new, _ in updates if ref == MAIN]

    def _moved_back(self, seen: str | None, theirs: str | None, mine: str | None, nodes: dict, report) -> None:
        """Name a main that went backwards since this node last saw the remote's: the remote's
        (and whose head it went back to) or this node's own (moved back by hand)."""
        if not seen:
            return
        if theirs and theirs != seen and not self.store.is_ancestor(seen, theirs):
            by = sorted(node for node, sha in nodes.items() if sha == theirs)
            who = f"the head node {', '.join(by)} pushed" if by else "a head no docctl node pushed (outside docctl)"
            restored = bool(mine) and self.store.is_ancestor(theirs, mine) and self.store.is_ancestor(seen, mine)
            report.moved_back.append(
                f"the remote's main was moved back from {seen[:12]} to {theirs[:12]}, {who}"
                + (f"; node {self.node} pushes its main forward again" if restored else "")
            )
        if mine and mine != seen and not self.store.is_ancestor(seen, mine) and self.store.is_ancestor(mine, seen):
            report.moved_back.append(
                f"node {self.node}'s own main was moved back from {seen[:12]} to {mine[:12]} outside docctl: "
                "nothing pushed; brought forward from the remote"
            )
        for line in report.moved_back:
            log.error("%s", line)

    def _push(self, pushes: list[tuple[str, str, str]], report: SyncReport) -> None:
        """What only this node has, in as few pushes as git allows: batches of refs pushed
        atomically (1,000 refs after a long outage one by one took 132 s); a batch another node
        got in first is pushed ref by ref to name the refs that diverged."""
        for start in range(0, len(pushes), PUSH_BATCH):
            batch = pushes[start : start + PUSH_BATCH]
            outcome = self.store.push_atomic(self.remote, batch, self._record(batch))
            if outcome.status == "rejected" and len(batch) > 1:
                for update in batch:
                    self._push([update], report)
            elif outcome.status == "ok":
                self.store.remember_pushed(batch)
                report.pushed += [ref for ref, _, _ in batch]
            elif outcome.status == "rejected":
                report.diverged += [ref for ref, _, _ in batch]
            else:
                report.ahead += [ref for ref, _, _ in batch]
                report.error = outcome.detail

    def _local_only_guess(self) -> list[str]:
        tracking = self.store.refs("refs/docctl/remote/heads")
        local = self.store.refs("refs/heads")
        return sorted(
            ref
            for ref, sha in local.items()
            if tracking.get("refs/docctl/remote/heads/" + ref[len("refs/heads/") :]) != sha
        )

    def status(self) -> dict:
        return {
            "remote": self.remote,
            "last_sync": self.last_sync.isoformat() if self.last_sync else None,
            **self.last_report.as_json(),
        }


ATTEMPTS = 4


def retried_when_the_remote_moved(method):
    """A write step that meets :class:`RemoteMoved` is run again after a sync, on the new state
    (its own checks then decide: the step lands, or a 409 says why not)."""

    @functools.wraps(method)
    def step(self, *args, **kwargs):
        for attempt in range(ATTEMPTS):
            try:
                return method(self, *args, **kwargs)
            except RemoteMoved:
                if self.sync is None or attempt == ATTEMPTS - 1:
                    raise
                self.sync()
        raise AssertionError("unreachable")

    return step
