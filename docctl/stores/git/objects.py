"""Reading objects: blobs, trees and commits by id, with caches of what git names by content."""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import git as gitpython

from ...core.commits import Commit, Identity
from ...core.errors import NotFound
from .process import SHA_RE, GitError, check_path, check_ref, check_sha, clean_env


class ObjectReads:
    """Like ``git cat-file``/``ls-tree``/``log --no-walk`` (mixed into the store)."""

    def blob_id(self, commit: str, path: str) -> str:
        """Like ``git rev-parse COMMIT:PATH``; NotFound when the path is absent there.

        Kept by commit and, when the commit is known, by its tree: a signature or a release
        writes a commit with its change's tree unchanged, and at 20,000 documents finding the
        path again took a git process inflating the 800 KB ``documents/`` folder (issue 33)."""
        check_sha(commit)
        check_path(path)
        found = self._paths.get((commit, path))
        if found is not None:
            return found
        known = self._commits.get(commit)
        tree = known.tree if known is not None else None
        found = self._paths.get((tree, path)) if tree else None
        if found is None:
            out = self._git("ls-tree", "-z", commit, "--", path).decode()
            if not out:
                raise NotFound("%(path)s does not exist at %(commit)s", path=path, commit=commit[:10])
            meta, _ = out.rstrip("\0").split("\t", 1)
            mode, kind, found = meta.split()
            if kind != "blob":
                raise NotFound("%(path)s is not a file at %(commit)s", path=path, commit=commit[:10])
        self._paths.put((commit, path), found)
        if tree:
            self._paths.put((tree, path), found)
        return found

    def raw_tree(self, sha: str) -> bytes:
        """Like ``git cat-file tree SHA``, kept (a tree id names its content): each release read
        main's 800 KB ``documents/`` folder at 20,000 documents, a git process inflating it
        through its delta chain, where this process had just written it (issue 33)."""
        raw = self._trees.get(sha)
        if raw is None:
            raw = self._git("cat-file", "tree", check_sha(sha))
            self._trees.put(sha, raw)
        return raw

    def folder(self, commit: str, path: str) -> dict[str, str]:
        """The files directly in folder ``path`` at ``commit``: name → blob id ({} if absent)."""
        check_sha(commit)
        check_path(path)
        out = self._git("ls-tree", "-z", commit, "--", path.rstrip("/") + "/").decode()
        found = {}
        for item in filter(None, out.split("\0")):
            meta, name = item.split("\t", 1)
            mode, kind, sha = meta.split()
            if kind == "blob":
                found[name.rsplit("/", 1)[-1]] = sha
        return found

    def read_blob(self, sha: str) -> bytes:
        """Like ``git cat-file blob SHA``: from the in-memory blob cache, else one short-lived
        process (see :meth:`reader` for many). A blob id names immutable content, so a cached
        blob is never stale; a process per read cost the JSON document half its time (issue 12)."""
        data = self._blobs.get(sha)
        if data is None:
            with self.reader() as reader:
                data = reader.blob(sha)
            self._blobs.put(sha, data)
        return data

    def read_file(self, commit: str, path: str) -> bytes:
        return self.read_blob(self.blob_id(commit, path))

    @contextlib.contextmanager
    def reader(self) -> Iterator[BlobReader]:
        """A persistent ``git cat-file --batch`` for many reads in one operation; always closed."""
        reader = BlobReader(self.path)
        try:
            yield reader
        finally:
            reader.close()

    def commit(self, sha: str) -> Commit:
        """Like ``git show -s SHA`` with the trailers parsed (kept when named by its id)."""
        found = self._commits.get(sha)
        if found is not None:
            return found
        commits = self.log(sha, no_walk=True)
        if not commits:
            raise NotFound("commit %(sha)s not found", sha=sha[:10])
        if commits[0].sha == sha:
            self._commits.put(sha, commits[0])
        return commits[0]

    def log(
        self,
        rev: str,
        *,
        since: str | None = None,
        first_parent: bool = False,
        reverse: bool = False,
        no_walk: bool = False,
        paths: tuple[str, ...] = (),
        max_count: int | None = None,
        until: str | None = None,
    ) -> list[Commit]:
        """Like ``git log [--first-parent] [SINCE..]REV [-- PATHS]``, parsed."""
        for value in (rev, since):
            if value is not None and not SHA_RE.fullmatch(value):
                check_ref(value)
        args = ["log", f"--format={self._FORMAT}"]
        if first_parent:
            args.append("--first-parent")
        if reverse:
            args.append("--reverse")
        if no_walk:
            args.append("--no-walk")
        if max_count:
            args.append(f"--max-count={int(max_count)}")
        if until:  # an ISO time: commits made up to then (git's --until, by committer date)
            args.append(f"--until={datetime.fromisoformat(until).isoformat()}")
        args.append(f"{since}..{rev}" if since else rev)
        args.append("--")
        args.extend(check_path(p) for p in paths)
        return self._log_args(args[2:], fmt_args=args[:2])

    _FORMAT = "%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B%x1f%(trailers:only,unfold)%x1e"

    def _log_args(self, args: list[str], fmt_args: list[str] | None = None) -> list[Commit]:
        fmt_args = fmt_args or ["log", f"--format={self._FORMAT}"]
        out = self._git(*fmt_args, *args).decode("utf-8", errors="replace")
        commits = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, tree, parents, an, ae, ad, cn, ce, cd, body, trailers = record.split("\x1f")
            parsed = []
            for line in trailers.splitlines():
                if ": " in line:
                    key, value = line.split(": ", 1)
                    parsed.append((key.strip(), value.strip()))
            commits.append(
                Commit(
                    sha,
                    tree,
                    tuple(parents.split()),
                    Identity(an, ae),
                    Identity(cn, ce),
                    datetime.fromisoformat(ad),
                    datetime.fromisoformat(cd),
                    body,
                    tuple(parsed),
                )
            )
        return commits

    def commits(self, shas: list[str]) -> dict[str, Commit]:
        """Several commits in one ``git log --no-walk`` call, by id."""
        if not shas:
            return {}
        out: dict[str, Commit] = {}
        for start in range(0, len(shas), 500):
            batch = [check_sha(s) for s in shas[start : start + 500]]
            for commit in self._log_args(["--no-walk=unsorted", *batch]):
                out[commit.sha] = commit
        return out

    def missing(self, shas: list[str]) -> list[str]:
        """The ids among ``shas`` this repository does not hold (``git cat-file --batch-check``)."""
        wanted = [check_sha(s) for s in shas]
        if not wanted:
            return []
        out = self._git("cat-file", "--batch-check=%(objectname)", input="".join(s + "\n" for s in wanted).encode())
        return [line.split()[0] for line in out.decode().splitlines() if line.endswith(" missing")]

    def blobs(self, shas: list[str]) -> Iterator[tuple[str, bytes]]:
        """Many blobs through one ``git cat-file --batch``, requests written ahead of the reads
        (pipelined: a round trip per blob made a rebuild of 40,000 releases take a minute)."""
        wanted = [check_sha(s) for s in shas]
        if not wanted:
            return
        cmd = ["git", f"--git-dir={self.path}", "cat-file", "--batch"]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=clean_env()
        )

        def feed() -> None:
            try:
                proc.stdin.write("".join(s + "\n" for s in wanted).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            for sha in wanted:
                header = proc.stdout.readline().split()
                if len(header) != 3:
                    raise NotFound("object %(sha)s not found", sha=sha[:10])
                data = proc.stdout.read(int(header[2]))
                proc.stdout.read(1)
                yield sha, data
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()
            writer.join()

    @contextlib.contextmanager
    def reading_files(
        self, found: Callable[[tuple[str, str], str, bytes], None], *, procs: int = 1
    ) -> Iterator[Callable[[str, str], None]]:
        """Ask for the file at (commit, path) while still producing the questions: ``git
        cat-file --batch`` of ``commit:path`` names, fed as they come and read by a thread that
        hands each answer to ``found(spec, blob id, content)`` (absent paths are skipped; with
        ``procs``, that many gits take the questions in turn, and ``found`` is called from as
        many threads). git resolves the paths on the other cores while the caller parses the
        history (a rebuild of 40,000 releases spent 5 s waiting for two such passes after the
        walk: issue 12; at 20,000 documents, finding a path in a commit's 800 KB folder made one
        git the whole rebuild's pace: issue 33)."""
        cmd = ["git", f"--git-dir={self.path}", "cat-file", "--batch"]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL}
        gits = [subprocess.Popen(cmd, **pipes, env=clean_env()) for _ in range(max(procs, 1))]
        asked: list[collections.deque[tuple[str, str]]] = [collections.deque() for _ in gits]
        failed: list[BaseException] = []
        turn = itertools.count()

        def read(proc, questions) -> None:
            try:
                while header := proc.stdout.readline():
                    spec, parts = questions.popleft(), header.split()
                    if len(parts) == 3:
                        data = proc.stdout.read(int(parts[2]))
                        proc.stdout.read(1)
                        if parts[1] == b"blob":
                            found(spec, parts[0].decode(), data)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
                failed.append(exc)
                for each in gits:
                    each.kill()  # a writer blocked on a full pipe must not wait for a reader that left

        def ask(commit: str, path: str) -> None:
            if failed:
                raise GitError(f"reading files from git failed: {failed[0]}")
            spec = (check_sha(commit), check_path(path))
            which = next(turn) % len(gits)
            asked[which].append(spec)  # before git can answer it
            try:
                gits[which].stdin.write(f"{spec[0]}:{spec[1]}\n".encode())
            except BrokenPipeError:
                raise GitError(f"reading files from git failed: {failed[0] if failed else 'git exited'}") from None

        readers = [
            threading.Thread(target=read, args=(proc, questions), name="docctl-cat-file", daemon=True)
            for proc, questions in zip(gits, asked, strict=True)
        ]
        for reader in readers:
            reader.start()
        try:
            yield ask
            for proc in gits:
                proc.stdin.close()
            for reader in readers:
                reader.join()
        finally:
            for proc in gits:
                with contextlib.suppress(OSError):  # git gone: what was still buffered has nowhere to go
                    proc.stdin.close()
                proc.kill()
                proc.wait()
            for reader in readers:
                reader.join()
            for proc in gits:
                proc.stdout.close()
        if failed:
            raise GitError(f"reading files from git failed: {failed[0]}")


BLOB_CACHE_BYTES = 32 * 1024 * 1024
# Raw trees kept by id: main's folder of 20,000 documents is ~800 KB; one of up to 1 MB (some
# 25,000 documents) is kept, and at most 8 MB of them a process (each counts in a worker's memory).
TREE_CACHE_BYTES = 8 * 1024 * 1024


class _ContentCache:
    """A thread-safe LRU of what git names by content (blobs by id, commits, a path's blob in a
    commit): never stale. Bounded by ``measure`` (bytes for blobs; entries with ``_one``)."""

    def __init__(self, max_size: int, measure: Callable[[object], int] = len) -> None:
        self.max_size = max_size
        self._measure = measure
        self._entries: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
            return data

    def put(self, key, data) -> None:
        size = self._measure(data)
        if size > self.max_size // 8:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = data
            self._size += size
            while self._size > self.max_size:
                _, dropped = self._entries.popitem(last=False)
                self._size -= self._measure(dropped)


def _one(_) -> int:
    return 1


class BlobReader:
    """Reads objects by id through GitPython's persistent ``git cat-file --batch``.

    Measured 2026-11 on a 2,000 × 20 repository: ~0.3 ms per blob this way against ~3.5 ms
    through GitPython's object API. One instance per operation; ``close`` ends the process.
    """

    def __init__(self, path: Path) -> None:
        self._repo = gitpython.Repo(str(path))
        for key in [k for k in os.environ if k.startswith("GIT_")]:
            self._repo.git.update_environment(**{key: None})

    def blob(self, sha: str) -> bytes:
        check_sha(sha)
        try:
            _, kind, _, stream = self._repo.git.stream_object_data(sha)
            data = stream.read()
        except (gitpython.exc.GitCommandError, ValueError) as exc:
            raise NotFound("object %(sha)s not found", sha=sha[:10]) from exc
        if kind != b"blob" and kind != "blob":
            raise NotFound("object %(sha)s is not a file", sha=sha[:10])
        return data

    def blob_id_at(self, commit: str, path: str) -> str:
        """Like ``git rev-parse COMMIT:PATH`` through the same persistent process."""
        try:
            sha, kind, _ = self._repo.git.get_object_header(f"{check_sha(commit)}:{check_path(path)}")
        except (gitpython.exc.GitCommandError, ValueError) as exc:
            raise NotFound("%(path)s does not exist at %(commit)s", path=path, commit=commit[:10]) from exc
        if kind not in (b"blob", "blob"):
            raise NotFound("%(path)s is not a file at %(commit)s", path=path, commit=commit[:10])
        return sha.decode() if isinstance(sha, bytes) else sha

    def close(self) -> None:
        self._repo.close()
