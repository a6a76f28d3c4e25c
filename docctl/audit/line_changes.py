"""What each commit on main's line changed — ``git log --first-parent --raw``'s answer, without git
comparing two 800 KB folders per commit.

At 20,000 documents ``git log --raw`` inflates each release's ``documents/`` tree and its parent's
and compares them: 175 of a full verification's core-seconds (issue 33). Yet a release changes one
file to the text its approvals signed (their ``Content``), and a withdrawal removes one. So the
parent's folder is written here with that one entry changed and hashed as git hashes a tree: when
the hash is the commit's own folder id, the folder is exactly that (git names a tree by that
hash), and so is the change. Anything else — a policy or keys commit, figures, a commit written
by hand — is compared by git, as before. Either way the answer is git's, commit by commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor

from ..core.commits import Commit
from ..core.documents import DOCUMENTS_DIR, document_path
from ..core.errors import DocctlError
from ..stores.git import GitStore
from ..stores.git.process import SHA_RE
from ..stores.git.trees import BLOB_MODE, TREE_MODE, order_key

FOLDER = DOCUMENTS_DIR.encode()


class LineChanges:
    """Walks main's line oldest first, keeping the parent's ``documents/`` folder as raw bytes."""

    def __init__(self, store: GitStore, steps: dict[str, Commit]) -> None:
        self.store = store
        self.steps = steps  # every commit, with its step trailers (a release's approvals' Content)
        # (tree id, raw, hash states) of the last folder known; states None until hashed here
        self.folder: tuple[str, bytes, list | None] | None = None
        self.predicted = 0  # commits answered without git comparing trees
        self.compared = 0
        self._named: list[str] = []  # folders known by their id only: git must hold each

    def of(self, line: list[Commit], before: Commit | None = None) -> list[tuple[Commit, dict[str, str | None]]]:
        """``line``: first-parent commits, oldest first (after ``before``); each with the files
        it changed."""
        roots = dict(self.store.blobs(sorted({c.tree for c in (*line, *([before] if before else []))})))
        out = []
        for commit in line:
            changed = None
            if before is not None and commit.parents and commit.parents[0] == before.sha:
                # a root git does not hold, or one that does not parse: git's compare says so
                with contextlib.suppress(KeyError, ValueError):
                    changed = self._predicted(commit, _entries(roots[before.tree]), _entries(roots[commit.tree]))
            if changed is None:
                self.compared += 1
                changed = self.store.changed_between(commit.parents[0] if commit.parents else None, commit.sha)
            else:
                self.predicted += 1
            out.append((commit, changed))
            before = commit
        # git log would have read every folder: one missing is a broken history, not a pass
        missing = self.store.missing(self._named)
        if missing:
            raise DocctlError("tree %(sha)s of main's history is missing from the repository", sha=missing[0][:12])
        return out

    def _predicted(self, commit: Commit, old: dict, new: dict) -> dict[str, str | None] | None:
        """The change when the trailers foretell it exactly; None when git must compare."""
        if old == new:
            return {}
        if {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)} != {FOLDER}:
            return None  # something beside documents/ changed (policy, keys, a hand-made commit)
        was, now = old.get(FOLDER), new.get(FOLDER)
        if was is None or now is None or was[0] != TREE_MODE or now[0] != TREE_MODE:
            return None
        guess = self._entry(commit)
        if guess is None:
            return None
        path, entry = guess
        raw, states = self._folder(was[1].hex())
        changed = _with_entry(raw, path.rsplit("/", 1)[1].encode(), entry)
        if changed is None:
            return None
        raw, since, same_size = changed
        sha, states = _hashed(raw, states if same_size else None, since)
        if sha != now[1].hex():
            return None
        self.folder = (sha, raw, states)
        self._named.append(sha)
        return {path: entry[1].hex() if entry else None}

    def _entry(self, commit: Commit) -> tuple[str, tuple[bytes, bytes] | None] | None:
        """(path, new entry or None) a release or withdrawal foretells; None for anything else."""
        action, doc_id = commit.trailer("Action"), commit.trailer("Document") or ""
        try:
            path = document_path(doc_id)
        except DocctlError:
            return None
        if action == "withdraw":
            return path, None
        if action != "release" or len(commit.parents) != 2:
            return None
        marker = self.steps.get(commit.parents[1])  # the change's "released" step
        signed = self.steps.get(marker.parents[0]) if marker is not None and marker.parents else None
        content = signed.trailer("Content") if signed is not None else None
        if not content or not SHA_RE.fullmatch(content):
            return None
        return path, (BLOB_MODE, bytes.fromhex(content))

    def _folder(self, sha: str) -> tuple[bytes, list | None]:
        if self.folder is None or self.folder[0] != sha:
            self.folder = (sha, self.store.raw_tree(sha), None)
        return self.folder[1], self.folder[2]


# Where an entry may start: its mode and a space (a name holds no space; an id is 20 random bytes).
_ENTRY_START = re.compile(rb"(?:100644|100755|120000|160000|40000) ")


def _with_entry(raw: bytes, name: bytes, entry: tuple[bytes, bytes] | None) -> tuple[bytes, int, bool] | None:
    """(``raw`` with ``name`` set to ``entry`` or removed, the offset of the change, whether the
    size stayed), the entry found by bisection over entry starts rather than a walk over every
    entry (``trees.spliced``: 5 ms in a folder of 20,000). A wrong place cannot pass: the
    result's hash is checked. None when there is nothing to change."""
    written = b"" if entry is None else entry[0] + b" " + name + b"\0" + entry[1]
    key = order_key(name, entry[0] if entry else BLOB_MODE)
    place = _place(raw, key)
    found = _ENTRY_START.match(raw, place)
    end = raw.find(b"\0", place) if found else -1
    view = memoryview(raw)
    if found and end != -1 and raw[found.end() : end] == name:
        cut = end + 21
        return b"".join((view[:place], written, view[cut:])), place, len(written) == cut - place
    if entry is None:
        return None
    return b"".join((view[:place], written, view[place:])), place, False


def _place(raw: bytes, key: bytes) -> int:
    """The offset where an entry of order ``key`` goes in ``raw`` (git's order of entries)."""
    low, high = 0, len(raw)  # entry starts: those before `low` sort before `key`, from `high` after
    while low < high:
        found = _ENTRY_START.search(raw, (low + high) // 2, high) or _ENTRY_START.search(raw, low, high)
        if found is None:
            return low
        start = found.start()
        end = raw.find(b"\0", start)
        if end == -1:
            return low
        if order_key(raw[found.end() : end], found.group()[:-1]) < key:
            low = end + 21
        else:
            high = start
    return low


def _entries(raw: bytes) -> dict[bytes, tuple[bytes, bytes]]:
    """name → (mode, 20-byte id) of a small tree's raw bytes."""
    found, at = {}, 0
    while at < len(raw):
        space = raw.index(b" ", at)
        end = raw.index(b"\0", space)
        found[raw[space + 1 : end]] = (raw[at:space], raw[end + 1 : end + 21])
        at = end + 21
    return found


STEP = 1 << 16  # a folder's hash state is kept every 64 KB


def _hashed(raw: bytes, kept: list | None = None, since: int = 0) -> tuple[str, list]:
    """(git's id of the tree ``raw``, its hash states: ``states[i]`` has hashed ``raw[:i * STEP]``).
    ``kept``: the states of a tree of the same size whose bytes before ``since`` are these, so
    hashing resumes there — a release hashes half a folder on average, not all of it."""
    first = 0 if kept is None else since // STEP
    if kept is None:
        states = [hashlib.sha1(b"tree %d\0" % len(raw))]  # noqa: S324 - git's object id, not a security hash
    else:
        states = kept[: first + 1]
    digest = states[first].copy()
    view = memoryview(raw)
    for start in range(first * STEP, len(raw), STEP):
        digest.update(view[start : start + STEP])  # hashlib lets other threads run meanwhile
        states.append(digest.copy())
    return digest.hexdigest(), states


def _tree_id(raw: bytes) -> str:
    return _hashed(raw)[0]


SPLIT_FROM = 20_000  # a line this long is read in two halves, one thread each


def changes(store: GitStore, line: list[Commit], steps: dict[str, Commit]) -> list:
    """Each commit of ``line`` (main's, oldest first) with the files it changed. A long line in
    two halves side by side: hashing a folder lets other threads run (``hashlib`` releases the
    GIL on large data)."""
    if len(line) < SPLIT_FROM:
        return LineChanges(store, steps).of(line)
    middle = len(line) // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        later = pool.submit(LineChanges(store, steps).of, line[middle:], line[middle - 1])
        return LineChanges(store, steps).of(line[:middle]) + later.result()
