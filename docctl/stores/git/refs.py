"""Reading refs: heads (loose, packed, once per view), ref listings, reflogs, ancestry."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from ...core.errors import NotFound
from .process import SHA_RE, check_ref, check_sha

REFS_VIEW: ContextVar[dict[tuple[str, str], str] | None] = ContextVar("docctl_refs_read_once", default=None)


class RefReads:
    """Like ``git rev-parse``/``for-each-ref``/``reflog`` (mixed into the store)."""

    @contextlib.contextmanager
    def refs_read_once(self) -> Iterator[None]:
        """Within: each ref is read once and keeps that value — one consistent view of the
        repository (a page put together from two heads of ``main`` would mix two states), and a
        page no longer reads ``main``'s ref 4-6 times (issue 12). This process's own ref updates
        within it are seen (see :meth:`update_refs`). For reads that write no ref: a web GET."""
        token = REFS_VIEW.set({})
        try:
            yield
        finally:
            REFS_VIEW.reset(token)

    def head(self, ref: str = "refs/heads/main") -> str:
        """Like ``git rev-parse --verify REF``; NotFound when the ref does not exist.

        Reads the loose ref file first (microseconds; docctl's own writes always leave loose
        refs) and falls back to git for packed refs.
        """
        view = REFS_VIEW.get()
        if view is None:
            return self._read_head(ref)
        key = (self._dir, ref)
        value = view.get(key)
        if value is None:
            value = view[key] = self._read_head(ref)
        return value

    def _read_head(self, ref: str) -> str:
        check_ref(ref)
        # os-level reads on a plain string path: pages read main's head several times each,
        # and Path objects plus a text file object were most of the cost (issue 12).
        with contextlib.suppress(OSError):
            fd = os.open(f"{self._dir}/{ref}", os.O_RDONLY)
            try:
                value = os.read(fd, 256).strip().decode("ascii", "replace")
            finally:
                os.close(fd)
            if SHA_RE.fullmatch(value):
                return value
        packed = self._packed_refs()
        if packed is not None:
            if ref in packed:
                return packed[ref]
            if not (self.path / ref).exists():
                raise NotFound("%(ref)s does not exist", ref=ref)
        out = self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", ok_codes=(0, 1)).strip()
        if not out:
            raise NotFound("%(ref)s does not exist", ref=ref)
        return out.decode()

    def _packed_refs(self) -> dict[str, str] | None:
        """``packed-refs`` parsed once per file version (after ``git pack-refs``/``gc``, a
        ``rev-parse`` per read cost 3.7 ms: issue 12); None when the file cannot be trusted."""
        path = self.path / "packed-refs"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return {}
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self._packed
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            text = path.read_text()
        except OSError:
            return None
        refs = {}
        for line in text.splitlines():
            if line and line[0] not in "#^":
                sha, _, name = line.partition(" ")
                refs[name] = sha
        self._packed = (key, refs)
        return refs

    def has_ref(self, ref: str) -> bool:
        try:
            self.head(ref)
        except NotFound:
            return False
        return True

    def refs(self, prefix: str) -> dict[str, str]:
        """Like ``git for-each-ref PREFIX``: ref name → commit id."""
        check_ref(prefix.rstrip("/") + "/x")
        words = iter(self._git("for-each-ref", "--format=%(refname) %(objectname)", prefix).decode().split())
        return dict(zip(words, words, strict=True))  # ref names hold no space (check-ref-format)

    def reflog(self, ref: str = "refs/heads/main", *, start: int = 0, first_index: int = 0) -> list[RefMove]:
        """Every recorded move of ``ref``, oldest first (``core.logAllRefUpdates=always``); from
        byte ``start`` on (a line's ``start`` as an earlier call gave it), numbered from
        ``first_index`` — so an incremental check reads only what was appended since."""
        path = self.path / "logs" / check_ref(ref)
        try:
            with path.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
        except FileNotFoundError:
            return []
        moves = []
        offset = start
        for number, raw in enumerate(data.splitlines(keepends=True), first_index):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            head, _, message = line.partition("\t")
            parts = head.split(" ", 2)
            if len(parts) == 3:
                moves.append(RefMove(number, parts[0], parts[1], parts[2], message, offset, line))
            offset += len(raw)
        return moves

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Like ``git merge-base --is-ancestor A D``."""
        code = self._status("merge-base", "--is-ancestor", check_sha(ancestor), check_sha(descendant))
        return code == 0


@dataclass(frozen=True)
class RefMove:
    """One line of a reflog: the ref moved from ``old`` to ``new``, by whom, with what message."""

    index: int
    old: str
    new: str
    who: str
    message: str
    start: int = 0  # the byte offset of its line in the reflog
    line: str = ""
