"""Writing with plumbing: blobs, trees and commits, then refs moved by compare-and-swap.

No index and no work tree: ``hash-object`` for blobs, trees and commits, with an explicit parent,
author and committer, then ``update-ref --stdin`` naming each ref's expected old value.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ...core.commits import Identity, commit_object, with_signature
from ...core.errors import Conflict
from ..locks import exclusive
from .process import EMPTY_TREE, GitError, check_path, check_ref, check_sha, clean_env, git_failure
from .refs import REFS_VIEW
from .trees import BLOB_MODE, TREE_MODE, Entry, entry_of, spliced

Signer = Callable[[bytes], str]  # a commit payload → its armored SSH signature


class Writes:
    """Like ``git hash-object``/``mktree``/``commit-tree``/``update-ref`` (mixed into the store)."""

    def write_blob(self, data: bytes) -> str:
        """Like ``git hash-object -w --stdin``."""
        return self._git("hash-object", "-w", "--stdin", input=data).decode().strip()

    def tree_with(self, base_tree: str | None, changes: dict[str, str | None]) -> str:
        """A new tree: ``base_tree`` with each path set to a blob id (or removed for None).

        Built bottom-up from the raw trees (``cat-file tree``, then ``hash-object -t tree``),
        changing only the entries named: no index or work tree is used, and a folder of 20,000
        documents costs a copy of its bytes, not a listing parsed and formatted (:mod:`.trees`).
        """
        grouped: dict[str, dict[str, str | None]] = {}
        here: dict[bytes, Entry | None] = {}
        for path, blob in changes.items():
            check_path(path)
            head, _, rest = path.partition("/")
            if rest:
                grouped.setdefault(head, {})[rest] = blob
            else:
                here[head.encode()] = None if blob is None else (BLOB_MODE, bytes.fromhex(check_sha(blob)))
        raw = self.raw_tree(base_tree) if base_tree else b""
        for name, sub in grouped.items():
            old = entry_of(raw, name.encode())
            subtree = self.tree_with(old[2].hex() if old and old[1] == TREE_MODE else None, sub)
            here[name.encode()] = None if subtree == EMPTY_TREE else (TREE_MODE, bytes.fromhex(subtree))
        new = spliced(raw, here)
        sha = self._git("hash-object", "-t", "tree", "-w", "--stdin", input=new).decode().strip()
        self._trees.put(sha, new)  # the next release starts from it
        return sha

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        *,
        author: Identity,
        committer: Identity,
        when: datetime,
        sign: Signer | None = None,
    ) -> str:
        """Like ``git commit-tree [-S]``, with author, committer and dates always explicit.

        The object is written as ``git commit-tree`` would write it (``hash-object -t commit``),
        signed by ``sign`` — or by the store's own signer (the instance's key) when none is
        given: every commit docctl writes carries a git SSH signature (issue 29).
        """
        for sha in (tree, *parents):
            check_sha(sha)
        payload = commit_object(tree, parents, message, author=author, committer=committer, when=when)
        signer = sign or self.signer
        raw = with_signature(payload, signer(payload)) if signer is not None else payload
        return self._git("hash-object", "-t", "commit", "-w", "--stdin", input=raw).decode().strip()

    def update_refs(
        self, updates: list[tuple[str, str, str]], *, reason: str = "docctl", local_only: bool = False
    ) -> None:
        """Move refs atomically, each only from its expected old value (compare-and-swap).

        Like ``git update-ref --stdin`` with ``start``/``update REF NEW OLD``/``prepare``/``commit``:
        all refs move or none. ``OLD`` = :data:`ZERO_SHA` means "must not exist yet". A lost
        race raises Conflict and leaves every ref as it was. With a git remote, the same update
        goes to the remote first (:mod:`docctl.stores.replication`); ``local_only``: what a sync pulls.
        """
        if self.replicator is not None and not local_only:
            self.replicator.before_update(updates)
        lines = ["start"]
        for ref, new, old in updates:
            lines.append(f"update {check_ref(ref)} {check_sha(new)} {check_sha(old)}")
        lines += ["prepare", "commit", ""]
        cmd = [
            "git",
            f"--git-dir={self.path}",
            "update-ref",
            "--create-reflog",
            "-m",
            reason.replace("\n", " "),
            "--stdin",
        ]
        proc = subprocess.run(cmd, input="\n".join(lines).encode(), capture_output=True, env=clean_env(), check=False)
        view = REFS_VIEW.get()
        if view:  # moved (or lost a race: moved by someone else): read the refs again
            view.clear()
        if proc.returncode:
            err = proc.stderr.decode(errors="replace").strip()
            if "No space left on device" in err or "Disk quota exceeded" in err:
                raise git_failure("git update-ref", err)
            if "but expected" in err or "reference already exists" in err or "unable to lock" in err or "is at" in err:
                raise Conflict(
                    "the repository moved on while this change was being written; reload and try again",
                    detail={"git": err[:300]},
                )
            raise git_failure("git update-ref", err)

    def write_lock(self, timeout: float = 30.0):
        """Serialize writers across threads and processes (``flock`` on a lock file).

        The compare-and-swap in :meth:`update_refs` stays the safety net; the lock only keeps
        ordinary contention from turning into conflicts the user would have to retry.
        """
        return exclusive(
            self.path / "docctl-write.lock", timeout=timeout, busy="the repository is busy; try again in a moment"
        )

    def merge_file(self, current: bytes, base: bytes, other: bytes, labels: tuple[str, str, str]) -> tuple[bytes, int]:
        """Three-way merge of texts, like ``git merge-file -p``; returns (text, conflict count)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="docctl-merge-") as tmp:
            names = []
            for name, data in (("current", current), ("base", base), ("other", other)):
                p = Path(tmp) / name
                p.write_bytes(data)
                names.append(str(p))
            proc = subprocess.run(
                ["git", "merge-file", "-p", "-L", labels[0], "-L", labels[1], "-L", labels[2], *names],
                capture_output=True,
                env=clean_env(),
                check=False,
            )
        if proc.returncode < 0 or proc.returncode > 127:
            raise GitError(f"git merge-file failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout, proc.returncode
