"""Keeping a long-lived repository healthy: packing (``gc --auto``) and integrity checks (``fsck``)."""

from __future__ import annotations


class Upkeep:
    """Like ``git gc --auto`` and ``git fsck --strict`` (mixed into the store)."""

    def maintain(self) -> None:
        """Like ``git gc --auto``: pack loose objects and refs once enough have piled up (a no-op
        check otherwise). Run under :meth:`write_lock`, so it never overlaps a docctl write;
        reflogs never expire (configured at creation), so nothing auditors need is pruned."""
        with self.write_lock(timeout=5.0):
            self._git("-c", "gc.autoDetach=false", "gc", "--auto", "--quiet")

    def fsck(self) -> str:
        """Like ``git fsck --strict``; returns its report, raises GitError when it fails."""
        return self._git("fsck", "--strict", "--no-progress").decode()
