"""How an instance starts (issue 31): derived data caught up with git — in the foreground for the
CLI, in a thread for a server process, which answers meanwhile (ops/preparation.py) — and the
derived data over the whole history (the audit trail's change steps, the index of all revisions)
built in the background by one process of the instance."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..core.errors import Conflict, Unavailable
from ..stores.locks import exclusive
from .index_build import INDEX_BUILD_LOCK, build_all_revisions


class StartUp:
    """Mixed into :class:`~docctl.ops.instance.Instance`."""

    def start(self, *, background: bool = False, step: Callable[[str], None] = lambda _: None) -> None:
        """Catch derived data up with git (CLI commands, and each server process through
        :meth:`prepare`). ``step``: told which part it is at (see ops/preparation.py).

        The index of all revisions is slow to build on a long history (minutes at 2,000 × 20);
        with ``background`` it is built in a thread, while ``scope=all`` searches say it is not
        ready yet.
        """
        self.indexer.defer_all = background
        step("databases")
        try:
            self.upgrade_databases()
        except Unavailable:  # served as 503 until the database is back (and migrated on first use)
            logging.getLogger("docctl").warning("the database cannot be reached at start-up")
        step("register")
        self.catalog.catch_up()
        if background and not self.search_all.exists() and (self._indexing is None or not self._indexing.is_alive()):
            # started now, beside the rest: the longest part of a first start (issue 31)
            self._indexing = threading.Thread(target=self._index_all_revisions, name="docctl-index-all", daemon=True)
            self._indexing.start()
        self.list_instance_key()
        step("audit trail")
        if not self.catalog.trail.main_built():
            self.catalog.fill_trail()  # an instance from before the audit trail (issue 18)
        step("changes")
        if not self.workflow.change_index.is_built():
            self.workflow.rebuild_change_index()
        step("search")
        self.indexer.catch_up()
        if not background:  # a server process's preparation marks itself ready (ops/preparation.py)
            self.preparation.mark_ready()
        if self.search_all.exists() and self.catalog.trail.changes_built():
            return
        if not background:
            if not self.catalog.trail.changes_built():
                self.workflow.rebuild_change_trail()
            if not self.search_all.exists():
                self._index_all_revisions()  # both cores, as a server builds it (issue 33)
            return
        if self._building is None or not self._building.is_alive():
            self._building = threading.Thread(target=self._build_history, name="docctl-history", daemon=True)
            self._building.start()

    def prepare(self) -> None:
        """A server process: answer at once, catch derived data up in a thread (one process of
        the instance builds, the others wait for it, then catch up); ``preparation.ready`` is
        set when this process may serve pages (issue 31) — at once when the derived data is
        current already (a worker replaced, a restart): what the thread then does is a no-op."""
        if self._prepared_already():
            self.preparation.mark_ready()
        self.preparation.begin(lambda step: self.start(background=True, step=step))

    def _prepared_already(self) -> bool:
        try:
            head = self.store.head()
            return (
                self.catalog.recorded_commit() == head
                and self.search.indexed_commit() == head
                and self.workflow.change_index.is_built()
                and self.catalog.trail.main_built()
            )
        except Exception:  # noqa: BLE001 - any doubt: prepare in the background as on a first start
            return False

    def _build_history(self) -> None:
        """The change steps of the audit trail over the whole history (the index of all revisions
        is built beside it: :meth:`_index_all_revisions`). One process builds it; the others skip."""
        log = logging.getLogger("docctl")
        # Both cores to the index of all revisions first, whichever process builds it: beside
        # the trail it took 70-96 s at 2,000 x 20, before it 61 s.
        if self._indexing is not None:
            self._indexing.join()
        if not self.search_all.exists():
            try:
                with exclusive(self.root / INDEX_BUILD_LOCK, timeout=900, busy="the index is still being built"):
                    pass
            except Conflict:
                log.warning("the index of all revisions is taking long; the audit trail is built meanwhile")
        try:
            if not self.catalog.trail.changes_built():
                with exclusive(self.root / "trail-build.lock", timeout=0, busy="trail being built"):
                    if not self.catalog.trail.changes_built():
                        self.workflow.rebuild_change_trail()
        except Conflict:
            log.info("the audit trail is being built by another process")
        except Exception:  # noqa: BLE001 - a background job: log it, the next start-up retries
            log.exception("building the audit trail failed")

    def _index_all_revisions(self) -> None:
        """The index of all revisions, built by a spawned process on both cores (one process of
        the instance builds; ops/index_build.py), then caught up with what landed meanwhile."""
        if self.search_all.exists():
            return
        settings = self.settings
        built = build_all_revisions(
            self.root, language=settings["SEARCH_LANGUAGE"], lock_timeout=float(settings["SEARCH_LOCK_TIMEOUT"])
        )
        if built:
            try:
                self.indexer.catch_up_all()
            except Exception:  # noqa: BLE001 - derived data: the next release or start catches it up
                logging.getLogger("docctl").exception("catching up the index of all revisions failed")
