"""The index of all revisions built by a process of its own, on both cores (issue 31).

Measured at 2,000 × 20 (40,032 revisions; where Whoosh's time goes): one writer with a 128 MB
pool spends 75 s analysing and pooling and 68 s merging the pool's sorted runs (pickled to disk
and read back: a third of the time); with a 2 GB pool, 90 s; with two writer processes of 1 GB
each, one segment each (Whoosh's ``MpWriter``), 49 s. A server's threads never fork (a child
forked beside other threads can inherit a held lock), so a server *spawns* a fresh process for
this build — a new interpreter, no threads — and that process forks the two writers.

One process of the instance builds at a time (``index-all-build.lock``); the others skip. When
the server stops, the build is stopped with it (its process group), and the next start begins it
again: the live index is only ever replaced whole.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from ..core.errors import Conflict
from ..derived.catalog import Catalog
from ..derived.indexing import Indexer
from ..derived.search import SearchIndex
from ..stores.git import GitStore
from ..stores.locks import exclusive

log = logging.getLogger("docctl")
INDEX_BUILD_LOCK = "index-all-build.lock"
WRITERS = 2
POOL_MB = 1024  # each writer's pool: with less, sorted runs are pickled to disk and merged back


def build_all_revisions(root: Path, *, language: str, lock_timeout: float) -> bool:
    """Build the index of all revisions in a spawned process and wait for it; False when
    another process of the instance is building it or the build failed (logged)."""
    try:
        with exclusive(root / INDEX_BUILD_LOCK, timeout=0, busy="the index of all revisions is being built"):
            context = multiprocessing.get_context("spawn")
            child = context.Process(
                target=_build, args=(str(root), language, lock_timeout), name="docctl-index-all", daemon=False
            )
            child.start()
            stop = _stopper(child)
            atexit.register(stop)
            try:
                child.join()
            finally:
                atexit.unregister(stop)
            if child.exitcode != 0:
                log.error(
                    "building the index of all revisions failed (exit %s); the next start tries again", child.exitcode
                )
            return child.exitcode == 0
    except Conflict:
        log.info("the index of all revisions is being built by another process")
        return False


def _stopper(child):
    def stop() -> None:  # the server is stopping: the build (and its writers) go with it
        if child.is_alive():
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            child.join(5)

    return stop


def _build(root: str, language: str, lock_timeout: float) -> None:
    """In the spawned process: only what this index needs, then two writers."""
    os.setpgrp()  # its writers in its group, stopped together
    folder = Path(root)
    store = GitStore(folder / "repo.git")
    catalog = Catalog(folder / "catalog.sqlite3", store)
    index = SearchIndex(folder / "search-all", language=language, lock_timeout=lock_timeout)
    indexer = Indexer(catalog, store, index, SimpleNamespace(today=date.today), index)
    indexer.rebuild_all(procs=WRITERS)
