"""Trees written by splicing raw tree objects (stores/git/trees.py) are the trees git itself writes:
each case is checked against git's index (read-tree, update-index, write-tree) on a real repository."""

from __future__ import annotations

import os
import random
import subprocess

import pytest

from docctl.core.errors import DocctlError
from docctl.stores.git import GitStore
from docctl.stores.git.trees import BLOB_MODE, spliced


@pytest.fixture
def store(tmp_path):
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "repo.git")], check=True)
    return GitStore(tmp_path / "repo.git")


def by_git(store: GitStore, base: str | None, changes: dict[str, str | None], tmp_path) -> str:
    """The tree git's own index writes for the same changes."""
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "index"), "GIT_DIR": str(store.path)}

    def run(*args: str, input: str | None = None) -> str:
        return subprocess.run(["git", *args], env=env, input=input, check=True, capture_output=True, text=True).stdout

    (tmp_path / "index").unlink(missing_ok=True)
    run("read-tree", base or "--empty")
    lines = [f"0 {'0' * 40}\t{p}" if b is None else f"100644 {b}\t{p}" for p, b in changes.items()]
    run("update-index", "--index-info", input="".join(line + "\n" for line in lines))
    return run("write-tree").strip()


NAMES = ["a", "a.b", "a-b", "a0", "ab", "b", "P-01.md", "P-010.md", "P-1.md", "z_z", "Z", "0"]


def test_random_changes_give_the_tree_git_writes(store, tmp_path):
    random.seed(33)
    blobs = [store.write_blob(f"text {n}\n".encode()) for n in range(8)]
    tree = None
    for _ in range(60):
        changes = {}
        for _ in range(random.randint(1, 4)):
            folder = random.choice(["", "documents/", "figures/P-01/", "sub/"])
            changes[folder + random.choice(NAMES)] = random.choice([*blobs, None])
        # a path cannot be a blob and a folder at once: drop what git's index would refuse
        changes = {p: b for p, b in changes.items() if not any(q.startswith(p + "/") for q in changes)}
        try:
            expected = by_git(store, tree, changes, tmp_path)
        except subprocess.CalledProcessError:
            continue  # a blob where a folder is (or the other way): not a case docctl makes
        assert store.tree_with(tree, changes) == expected, changes
        tree = expected


def test_a_wide_folder_changes_in_one_place(store, tmp_path):
    blob = store.write_blob(b"x\n")
    wide = store.tree_with(None, {f"documents/P-{n:05d}.md": blob for n in range(0, 3000, 2)})
    other = store.write_blob(b"y\n")
    for path in ("documents/P-00000.md", "documents/P-01501.md", "documents/P-02998.md", "documents/P-99999.md"):
        for value in (other, None):
            assert store.tree_with(wide, {path: value}) == by_git(store, wide, {path: value}, tmp_path)


def test_a_tree_that_does_not_parse_is_refused():
    with pytest.raises(DocctlError, match="does not parse"):
        spliced(b"100644 a\0" + b"x" * 5, {b"b": (BLOB_MODE, b"y" * 20)})
