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


def test_a_tree_written_or_read_is_kept_and_a_commit_of_a_known_tree_finds_its_file(store, monkeypatch):
    """Issue 33: at 20,000 documents a release read main's 800 KB folder with a git process right
    after writing it, and a signature found its change's file again in a commit whose tree was
    already read. Both are kept by id; a new tree read once; a new path still asks git."""
    from datetime import UTC, datetime

    from docctl.core.commits import Identity

    blobs = [store.write_blob(f"{n}\n".encode()) for n in range(3)]
    first = store.tree_with(None, {"documents/P-01.md": blobs[0], "documents/P-02.md": blobs[1]})
    asked = []
    real = store._git
    monkeypatch.setattr(store, "_git", lambda *args, **kw: asked.append(args[0]) or real(*args, **kw))
    second = store.tree_with(first, {"documents/P-01.md": blobs[2]})
    assert asked == ["hash-object", "hash-object"]  # nothing read: both trees were just written
    assert second == store.tree_with(first, {"documents/P-01.md": blobs[2]})

    who, when = Identity("A", "a@example.org"), datetime(2026, 1, 1, tzinfo=UTC)
    one, other = (store.commit_tree(second, [], m, author=who, committer=who, when=when) for m in ("1\n", "2\n"))
    store.commit(one), store.commit(other)
    asked.clear()
    assert store.blob_id(one, "documents/P-01.md") == blobs[2]
    assert asked == ["ls-tree"]
    asked.clear()
    assert store.blob_id(other, "documents/P-01.md") == blobs[2]  # the same tree: no process
    assert store.blob_id(other, "documents/P-02.md") == blobs[1] and asked == ["ls-tree"]  # another path
    store._trees = type(store._trees)(1 << 20)
    asked.clear()
    store.tree_with(second, {"documents/P-02.md": None})
    assert asked.count("cat-file") == 2  # nothing kept: the root and the folder read once each
    store.tree_with(second, {"documents/P-02.md": blobs[0]})
    assert asked.count("cat-file") == 2
