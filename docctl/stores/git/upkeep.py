"""Keeping a long-lived repository healthy: packing (``git maintenance``'s tasks that never walk
the history), the commit-graph, and integrity checks (``fsck``)."""

from __future__ import annotations

import os

from .process import GitError

LOOSE_OBJECTS = 6700  # git's own gc.auto
PACKS = 50  # git's own gc.autoPackLimit
LARGE_PACK = 512 << 20  # packs this large are left alone (rewriting them is what gc costs)
LOOSE_REFS = 1000


class Upkeep:
    """Packing as ``git maintenance`` does, and ``git fsck --strict`` (mixed into the store)."""

    def maintain(self) -> None:
        """Pack loose objects and refs once enough have piled up (a no-op check otherwise), under
        :meth:`write_lock`, so it never overlaps a docctl write; reflogs never expire
        (configured at creation), so nothing auditors need is pruned.

        Not ``git gc --auto`` (issue 33): its incremental repack walks every reachable object to
        find the loose ones — at 20,000 documents × 10 that is 1.2 million commits and their
        800 KB trees, 95 s under the write lock every ~670 releases — and every 50 packs it
        rewrites the whole repository. ``git maintenance``'s loose-objects task packs the loose
        objects by name, without a walk; past 50 small packs the multi-pack-index gathers them
        into one (``multi-pack-index repack``), never touching the large ones; refs are packed
        when loose ones pile up. Unreachable objects are kept (docctl makes almost none;
        ``git gc`` by hand removes them)."""
        with self.write_lock(timeout=5.0):
            packing = self._loose_objects() >= self._gc_auto()
            if packing:  # the task packs a batch; the loose copies go at its next run, or now:
                self._git("maintenance", "run", "--task=loose-objects", "--quiet")
                self._git("prune-packed", "-q")
            small = [size for size in self._pack_sizes() if size < LARGE_PACK]
            if len(small) > PACKS:  # the small packs made into one, the large ones left as they are
                self._git("multi-pack-index", "write")
                self._git("multi-pack-index", "repack", f"--batch-size={sum(small)}")
                self._git("multi-pack-index", "expire")
            if packing or self._loose_refs() >= LOOSE_REFS:
                self._git("pack-refs", "--all")

    def _gc_auto(self) -> int:
        """git's ``gc.auto`` (how many loose objects are enough), 6,700 unless configured; asked of
        git again only when the config file changed, not once per release."""
        stamp = (self.path / "config").stat().st_mtime_ns
        known = getattr(self, "_gc_auto_known", None)
        if known is None or known[0] != stamp:
            try:
                value = int(self._git("config", "--get", "gc.auto").decode().strip())
            except (GitError, ValueError):
                value = LOOSE_OBJECTS
            known = self._gc_auto_known = (stamp, value)
        return known[1]

    def _loose_objects(self) -> int:
        """An estimate, as ``gc --auto`` makes it: the objects in one of the 256 fan-out folders."""
        sample = self.path / "objects" / "17"
        return len(list(sample.iterdir())) * 256 if sample.is_dir() else 0

    def _pack_sizes(self) -> list[int]:
        return [pack.stat().st_size for pack in (self.path / "objects" / "pack").glob("*.pack")]

    def _loose_refs(self) -> int:
        """Loose change branches (a file each): counted up to the threshold, never all."""
        folder = self.path / "refs" / "heads" / "changes"
        if not folder.is_dir():
            return 0
        count = 0
        for count, _ in enumerate(os.scandir(folder), start=1):
            if count >= LOOSE_REFS:
                break
        return count

    def update_commit_graph(self) -> None:
        """Like ``git commit-graph write --reachable --split``: the commits written since the last
        one added as a layer (tens of milliseconds; the first at 240,000 commits takes ~3 s).
        A walk that leaves out what a verified anchor reached — 40,000 merged change branches —
        takes 0.2 s with it and 1.8 s without (issue 30). Derived: git rebuilds it at any time;
        another process writing it meanwhile (git's own lock) is left to finish."""
        self._status("commit-graph", "write", "--reachable", "--split", "--no-progress")

    def has_commit_graph(self) -> bool:
        info = self.path / "objects" / "info"
        return (info / "commit-graph").exists() or (info / "commit-graphs" / "commit-graph-chain").exists()

    def fsck(self) -> str:
        """Like ``git fsck --strict``; returns its report, raises GitError when it fails."""
        return self._git("fsck", "--strict", "--no-progress").decode()
