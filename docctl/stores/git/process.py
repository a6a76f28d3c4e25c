"""The one subprocess helper of the git store and the checks every argument passes first.

After pre-commit's ``git.py``: a cleaned environment (no inherited ``GIT_*`` variables, no system
config, no hooks, no prompts), and nothing option-like or outside the repository reaches git.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ...core.errors import DocctlError, Invalid, disk_full

ZERO_SHA = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
SHA_RE = re.compile(r"[0-9a-f]{40}")

REF_RE = re.compile(r"refs/(heads|tags|docctl)/[A-Za-z0-9][A-Za-z0-9._/-]*")

PATH_PART_RE = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*")


class GitError(DocctlError):
    """Raised by this module when git itself fails in a way no user input explains."""

    code = "git_error"
    http_status = 500


def check_ref(ref: str) -> str:
    if not REF_RE.fullmatch(ref) or ".." in ref or ref.endswith((".lock", "/", ".")):
        raise Invalid("refusing ref name %(ref)s", ref=repr(ref))
    return ref


def check_path(path: str) -> str:
    parts = path.split("/")
    if not path or any(not PATH_PART_RE.fullmatch(p) or p in (".", "..") for p in parts):
        raise Invalid("refusing repository path %(path)s", path=repr(path))
    return path


def check_sha(sha: str) -> str:
    if not SHA_RE.fullmatch(sha):
        raise Invalid("not an object id: %(sha)s", sha=repr(sha))
    return sha


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


def git_failure(what: str, stderr: str) -> DocctlError:
    """The error for a failed git command: a full disk says so (503, nothing was written: git
    writes objects and refs whole or not at all), anything else is a :class:`GitError`."""
    if "No space left on device" in stderr or "Disk quota exceeded" in stderr:
        return disk_full()
    return GitError(f"{what} failed: {stderr.strip()[:500]}")


class GitProcess:
    """The store's ``git`` invocations (mixed into :class:`~docctl.stores.git.GitStore`)."""

    def _run(self, *args: str, input: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.quotePath=false"]
        if cwd is None:
            cmd.append(f"--git-dir={self.path}")
        return subprocess.run(
            [*cmd, *args], input=input, capture_output=True, cwd=cwd or self.path, env=clean_env(), check=False
        )

    def _status(self, *args: str) -> int:
        return self._run(*args).returncode

    def _git(self, *args: str, input: bytes | None = None, cwd: Path | None = None, ok_codes=(0,)) -> bytes:
        proc = self._run(*args, input=input, cwd=cwd)
        if proc.returncode not in ok_codes:
            raise git_failure(f"git {args[0]}", proc.stderr.decode(errors="replace"))
        return proc.stdout
