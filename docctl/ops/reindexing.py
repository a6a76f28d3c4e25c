"""``docctl reindex``: every derived cache rebuilt from git, on every core.

The catalog and the change index read different parts of git (``main``'s history, the change
branches' heads), so the change index's rows are read by a process of its own while this one
rebuilds the catalog; the current-revision search index then needs both, and its text is analysed
by forked writers. At 2,000 × 20 the steps one after another took 29-33 s (issue 12).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

from ..derived.change_index import table_rows
from .instance import Instance


class Searchable(NamedTuple):
    """What the first part of a rebuild did, and when search could answer again."""

    main_records: int  # releases, withdrawals and reviews on main
    changes: int
    current_entries: int
    seconds: float


def rebuild_until_searchable(
    instance: Instance,
    *,
    progress: Callable[[int], None] | None = None,
    cores: int | None = None,
) -> Searchable:
    """Rebuild the catalog, the change index and the current-revision index: the parts search,
    the register and my tasks need. The rest comes after: :func:`rebuild_the_rest`."""
    started = time.monotonic()
    today = instance.workflow.today()  # the older releases' files are read after (issue 33)
    cores = cores or os.cpu_count() or 1
    if cores > 1:
        # spawn, not fork: the child opens the instance itself (no inherited connections)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            change_rows = pool.submit(_change_index_rows, str(instance.root))
            main_records = instance.catalog.rebuild(trail=False, today=today)
            rows = change_rows.result()
    else:
        main_records = instance.catalog.rebuild(trail=False, today=today)
        rows = table_rows(instance.workflow.change_index_rows())
    changes = instance.workflow.change_index.rebuild_rows(rows)
    entries = instance.indexer.rebuild_current(progress, procs=min(cores, 2))
    return Searchable(main_records, changes, entries, time.monotonic() - started)


class Rest(NamedTuple):
    """What the second part of a rebuild did."""

    main_records: int  # the audit trail's rows for main
    files: int  # older releases' files read
    changes: int  # changes whose steps went into the audit trail
    revisions: int  # entries of the index of all revisions


def rebuild_the_rest(
    instance: Instance, *, progress: Callable[[int], None] | None = None, cores: int | None = None
) -> Rest:
    """After :func:`rebuild_until_searchable`, while search answers: the audit trail's rows, the
    older releases' files in the catalog, and the index of all revisions (which reads them)."""
    cores = cores or os.cpu_count() or 1
    on_main = instance.catalog.write_trail_later()
    files = instance.catalog.fill_files()
    changes = instance.workflow.rebuild_change_trail()
    revisions = instance.indexer.rebuild_all(progress=progress, procs=min(cores, 2))
    return Rest(on_main, files, changes, revisions)


def _change_index_rows(root: str) -> list[tuple]:
    return table_rows(Instance(Path(root)).workflow.change_index_rows())
