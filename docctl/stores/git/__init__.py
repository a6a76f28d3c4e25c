"""THE git module: every git call in docctl goes through here.

Reads address content by (ref, path) or by object id in a *bare* repository — there is no
working tree to share or corrupt. Writes use plumbing only: store blobs, build trees, create a
commit with an explicit parent, author and committer, then move the ref with
``git update-ref --stdin`` in one transaction whose every update names the expected old value
(compare-and-swap). A lost race is a domain :class:`~docctl.core.errors.Conflict`, never a silent
overwrite; writers also serialize on a lock file so ordinary contention never reaches the CAS.

Decisions:
- 2026-11: one small subprocess helper with a cleaned environment (after pre-commit's git.py);
  no inherited ``GIT_*`` variables, no system config, no hooks, no prompts.
- 2026-11: GitPython is used for the persistent ``git cat-file --batch`` reader only, one
  ``Repo`` per operation, always closed (its docs: not safe for long-running processes).
- Callers validate IDs and paths (``documents.validate_document_id``) before they get here; this
  module still refuses anything option-like or outside the repository as a last line.
"""

from __future__ import annotations

from pathlib import Path

from ...core.commits import Commit, Identity, format_message
from ...core.errors import Conflict
from .copies import Copies, Snapshot
from .history import HistoryReads, bulk_load
from .objects import BLOB_CACHE_BYTES, TREE_CACHE_BYTES, BlobReader, ObjectReads, _ContentCache, _one
from .process import EMPTY_TREE, ZERO_SHA, GitError, GitProcess
from .refs import RefMove, RefReads
from .remote import PushOutcome, RemoteRefs
from .upkeep import Upkeep
from .writing import Signer, Writes

__all__ = [
    "EMPTY_TREE",
    "ZERO_SHA",
    "BlobReader",
    "Commit",
    "GitError",
    "GitStore",
    "Identity",
    "PushOutcome",
    "RefMove",
    "Snapshot",
    "bulk_load",
    "format_message",
]


class GitStore(ObjectReads, HistoryReads, RefReads, Writes, RemoteRefs, Upkeep, Copies, GitProcess):
    """A bare documents repository. Cheap to create; holds no open processes or files.

    Its methods are grouped by what they do, one module each: reading objects, streaming
    histories, reading refs, writing (plumbing and compare-and-swap), the remote, upkeep, copies
    (backup and restore).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._dir = str(self.path)
        self._packed: tuple[tuple, dict[str, str]] | None = None
        self._blobs = _ContentCache(BLOB_CACHE_BYTES)
        # Commits and (commit, path) → blob ids never change: a release read the same ones
        # again and again, a git process each (issue 12).
        self._commits = _ContentCache(4096, _one)
        self._paths = _ContentCache(8192, _one)
        self._trees = _ContentCache(TREE_CACHE_BYTES)
        # Signs every commit written without a signer of its own: the instance key (issue 29).
        self.signer: Signer | None = None
        # With a git remote (issue 14): pushes each update before the local refs move.
        self.replicator = None

    @classmethod
    def create(cls, path: Path | str) -> GitStore:
        """Like ``git init --bare``, with the settings an audited repository needs."""
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise Conflict("%(path)s already exists and is not empty", path=path)
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path)
        store._git("init", "--bare", "--quiet", "--initial-branch=main", str(path), cwd=path.parent)
        # Every ref move is journaled (CONTRACT §1); gc must not prune history auditors need.
        for key, value in (
            ("core.logAllRefUpdates", "always"),
            ("receive.denyNonFastForwards", "true"),
            ("receive.denyDeletes", "true"),
            ("gc.reflogExpire", "never"),
            ("gc.reflogExpireUnreachable", "never"),
            ("gc.autoDetach", "false"),  # docctl runs gc itself, under its write lock
        ):
            store._git("config", key, value)
        return store

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()
