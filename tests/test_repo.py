"""The git store on real bare repositories: plumbing writes, CAS, validation, trailers, no leaks."""

from __future__ import annotations

import os
import subprocess
import threading
from datetime import UTC, datetime

import pytest

from docctl.core.commits import Identity, format_message
from docctl.core.errors import Conflict, Invalid, NotFound
from docctl.stores.git import ZERO_SHA, GitError, GitStore

ME = Identity("Anna Nowak", "anna@um.example.pl")
SERVICE = Identity("docctl", "docctl@localhost")
WHEN = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    return GitStore.create(tmp_path / "repo.git")


def commit_files(store, files: dict[str, bytes], parent: str | None = None, message: str = "m\n") -> str:
    base = store.commit(parent).tree if parent else None
    tree = store.tree_with(base, {p: store.write_blob(d) for p, d in files.items()})
    return store.commit_tree(tree, [parent] if parent else [], message, author=ME, committer=SERVICE, when=WHEN)


def git(store, *args) -> str:
    return subprocess.run(["git", f"--git-dir={store.path}", *args], capture_output=True, text=True, check=True).stdout


def test_create_is_bare_and_journaled(store):
    assert git(store, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(store, "config", "core.logAllRefUpdates").strip() == "always"
    with pytest.raises(Conflict):
        GitStore.create(store.path)


def test_write_and_read_by_ref_and_path(store):
    c1 = commit_files(store, {"documents/P-01.md": b"one\n", ".docctl/policy.yaml": b"p\n"})
    store.update_refs([("refs/heads/main", c1, ZERO_SHA)])
    assert store.head() == c1
    assert store.read_file(c1, "documents/P-01.md") == b"one\n"
    c2 = commit_files(store, {"documents/P-02.md": b"two\n"}, parent=c1)
    assert store.read_file(c2, "documents/P-01.md") == b"one\n"  # untouched paths survive
    assert sorted(git(store, "ls-tree", "-r", "--name-only", c2).split()) == [
        ".docctl/policy.yaml",
        "documents/P-01.md",
        "documents/P-02.md",
    ]
    with pytest.raises(NotFound):
        store.read_file(c1, "documents/P-02.md")
    with pytest.raises(NotFound):
        store.head("refs/heads/nope")


def test_removing_the_last_file_drops_the_folder(store):
    c1 = commit_files(store, {"documents/P-01.md": b"x"})
    tree = store.tree_with(store.commit(c1).tree, {"documents/P-01.md": None})
    assert git(store, "ls-tree", "-r", tree) == ""


def test_commit_author_committer_and_dates_are_explicit(store):
    c1 = commit_files(store, {"a.md": b"a"})
    commit = store.commit(c1)
    assert commit.author == ME and commit.committer == SERVICE
    assert commit.authored_at == WHEN


def test_compare_and_swap_refuses_a_stale_update(store):
    c1 = commit_files(store, {"a.md": b"1"})
    store.update_refs([("refs/heads/main", c1, ZERO_SHA)])
    c2 = commit_files(store, {"a.md": b"2"}, parent=c1)
    c3 = commit_files(store, {"a.md": b"3"}, parent=c1)
    store.update_refs([("refs/heads/main", c2, c1)])
    with pytest.raises(Conflict):
        store.update_refs([("refs/heads/main", c3, c1)])  # based on c1, but main is c2 now
    assert store.head() == c2
    with pytest.raises(Conflict):
        store.update_refs([("refs/heads/main", c3, ZERO_SHA)])  # "must not exist" but it does


def test_multi_ref_update_is_all_or_nothing(store):
    c1 = commit_files(store, {"a.md": b"1"})
    store.update_refs([("refs/heads/main", c1, ZERO_SHA)])
    c2 = commit_files(store, {"a.md": b"2"}, parent=c1)
    with pytest.raises(Conflict):
        store.update_refs([("refs/heads/changes/1", c2, ZERO_SHA), ("refs/heads/main", c2, ZERO_SHA)])
    assert not store.has_ref("refs/heads/changes/1")  # the first update was not applied either
    assert store.head() == c1


def test_concurrent_writers_lose_nothing(store):
    c0 = commit_files(store, {"a.md": b"0"})
    store.update_refs([("refs/heads/main", c0, ZERO_SHA)])
    errors = []

    def writer(n: int) -> None:
        for i in range(5):
            try:
                with store.write_lock():
                    head = store.head()
                    new = commit_files(store, {f"documents/D-{n}-{i}.md": b"x"}, parent=head)
                    store.update_refs([("refs/heads/main", new, head)])
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = git(store, "ls-tree", "-r", "--name-only", "main").split()
    assert len([n for n in names if n.startswith("documents/")]) == 20
    store.fsck()


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a//b", "-x", "a/../b", "", "a\nb", ".", "a/./b"])
def test_bad_paths_never_reach_git(store, path):
    with pytest.raises(Invalid):
        store.tree_with(None, {path: "0" * 40})


@pytest.mark.parametrize(
    "ref", ["--upload-pack=evil", "main", "refs/heads/../x", "refs/heads/a b", "HEAD", "refs/heads/x.lock"]
)
def test_bad_refs_never_reach_git(store, ref):
    with pytest.raises(Invalid):
        store.head(ref)


def test_option_like_object_names_are_refused(store):
    with pytest.raises(Invalid):
        store.read_blob("--output=/tmp/x")
    with pytest.raises(Invalid):
        store.log("--exec=evil")


def test_trailers_are_readable_by_plain_git(store):
    message = format_message(
        "Release P-01 revision 2: Nadzór",
        "Powód zmiany:\nwiele linii",
        [
            ("Document", "P-01"),
            ("Revision", "2"),
            ("Change-Reason", "nowe\nprzepisy"),
            ("Approved-by", "A <a@x>"),
            ("Approved-by", "B <b@x>"),
        ],
    )
    assert message.endswith("\n")
    c1 = commit_files(store, {"a.md": b"a"}, message=message)
    store.update_refs([("refs/heads/main", c1, ZERO_SHA)])
    assert git(store, "log", "main", "--format=%(trailers:key=Document,valueonly)").strip() == "P-01"
    assert (
        git(store, "log", "main", "--format=%(trailers:key=Approved-by,valueonly,separator=;)").strip()
        == "A <a@x>;B <b@x>"
    )
    assert git(store, "log", "main", "--format=%(trailers:key=Change-Reason,valueonly)").strip() == "nowe przepisy"
    assert store.commit(c1).trailer_values("Approved-by") == ["A <a@x>", "B <b@x>"]
    with pytest.raises(Invalid):
        format_message("x", "", [("Bad Key", "v")])


def test_ref_commits_reads_each_ref_as_commit_does(store):
    """One for-each-ref answers what a commit read per head answers: ids, parents (a merge has
    two), people, times, the message byte for byte and its trailers."""
    first = commit_files(store, {"a.md": b"a"}, message=format_message("Pierwsza", "", [("Change", "1")]))
    other = commit_files(store, {"b.md": b"b"}, message="no trailers, one line\n")
    merge = store.commit_tree(
        store.commit(first).tree,
        [first, other],
        format_message("Scalenie", "ciało\n\nz akapitem", [("State", "draft"), ("Approved-by", "A <a@x>")]),
        author=ME,
        committer=SERVICE,
        when=WHEN,
    )
    store.update_refs(
        [
            ("refs/heads/changes/1", first, ZERO_SHA),
            ("refs/heads/changes/2", other, ZERO_SHA),
            ("refs/heads/changes/3", merge, ZERO_SHA),
            ("refs/heads/main", first, ZERO_SHA),
        ]
    )
    found = store.ref_commits("refs/heads/changes/")
    assert sorted(found) == ["refs/heads/changes/1", "refs/heads/changes/2", "refs/heads/changes/3"]
    for ref, sha in store.refs("refs/heads/changes/").items():
        assert found[ref] == store.commit(sha)
    assert found["refs/heads/changes/3"].parents == (first, other)
    assert found["refs/heads/changes/3"].trailer("approved-by") == "A <a@x>"
    assert store.ref_commits("refs/heads/nothing/") == {}
    with pytest.raises(Invalid):
        store.ref_commits("refs/heads/--upload-pack=x/")


def test_identity_refuses_injection():
    with pytest.raises(Invalid):
        Identity("Evil <x@y>\nfoo", "a@b")


def test_three_way_merge(store):
    base = b"a\nb\nc\nd\ne\nf\n"
    merged, conflicts = store.merge_file(
        base.replace(b"b", b"B"), base, base.replace(b"e", b"E"), ("ours", "base", "theirs")
    )
    assert (merged, conflicts) == (b"a\nB\nc\nd\nE\nf\n", 0)
    merged, conflicts = store.merge_file(b"X\n", b"a\n", b"Y\n", ("ours", "base", "theirs"))
    assert conflicts == 1 and b"<<<<<<< ours" in merged


def _children() -> int:
    own = os.getpid()
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == own:
                        count += 1
            except (OSError, IndexError, ValueError):
                continue
    return count


def test_thousands_of_reads_leak_no_processes_or_files(store):
    c1 = commit_files(store, {f"documents/D-{i}.md": f"doc {i}\n".encode() for i in range(20)})
    blobs = [store.blob_id(c1, f"documents/D-{i}.md") for i in range(20)]
    store.read_blob(blobs[0])  # warm up imports and caches
    fds_before, children_before = len(os.listdir("/proc/self/fd")), _children()
    for i in range(2000):
        assert store.read_blob(blobs[i % 20]) == f"doc {i % 20}\n".encode()
    for _ in range(100):
        with store.reader() as reader:
            for blob in blobs:
                reader.blob(blob)
    assert len(os.listdir("/proc/self/fd")) <= fds_before
    assert _children() <= children_before


def test_files_are_read_while_the_questions_are_still_being_asked(store):
    c1 = commit_files(store, {"documents/P-01.md": b"one\n"})
    c2 = commit_files(store, {"documents/P-01.md": b"two\n"}, parent=c1)
    got = {}
    with store.reading_files(lambda spec, blob, data: got.__setitem__(spec, (blob, data))) as ask:
        for n in range(3000):  # more than a pipe holds: git answers while we still ask
            ask(c2 if n % 2 else c1, "documents/P-01.md")
        ask(c1, "documents/P-02.md")  # absent: skipped
    assert got[(c1, "documents/P-01.md")][1] == b"one\n" and got[(c2, "documents/P-01.md")][1] == b"two\n"
    assert got[(c1, "documents/P-01.md")][0] == git(store, "rev-parse", f"{c1}:documents/P-01.md").strip()
    assert len(got) == 2

    def broken(spec, blob, data):
        raise ValueError("a bad file")

    with pytest.raises(GitError, match="a bad file"), store.reading_files(broken) as ask:  # never hangs
        for _ in range(20000):
            ask(c1, "documents/P-01.md")


def test_what_an_id_names_is_read_from_git_once(store, monkeypatch):
    """A commit and a path's blob in a commit never change: the second read starts no git."""
    c1 = commit_files(store, {"documents/P-01.md": b"a"})
    store.update_refs([("refs/heads/main", c1, ZERO_SHA)])
    runs = []
    original = GitStore._run
    monkeypatch.setattr(GitStore, "_run", lambda self, *a, **k: runs.append(a[0]) or original(self, *a, **k))
    first, blob = store.commit(c1), store.blob_id(c1, "documents/P-01.md")
    assert len(runs) == 2
    assert store.commit(c1) == first and store.blob_id(c1, "documents/P-01.md") == blob
    assert store.commit("refs/heads/main") == first  # a ref moves: always asked
    assert len(runs) == 3
    with pytest.raises(NotFound):
        store.blob_id(c1, "documents/P-02.md")
    with pytest.raises(NotFound):
        store.blob_id(c1, "documents/P-02.md")  # absence is asked again (never cached)


def test_within_one_view_each_ref_keeps_its_first_value(store, tmp_path):
    c1 = commit_files(store, {"a.md": b"1"})
    store.update_refs([("refs/heads/main", c1, ZERO_SHA)])
    c2 = commit_files(store, {"a.md": b"2"}, parent=c1)
    c3 = commit_files(store, {"a.md": b"3"}, parent=c2)
    with store.refs_read_once():
        assert store.head() == c1
        # another process moves main meanwhile
        subprocess.run(["git", f"--git-dir={store.path}", "update-ref", "refs/heads/main", c2, c1], check=True)
        assert store.head() == c1  # one consistent view: the page started at c1
        with pytest.raises(NotFound):
            store.head("refs/heads/changes/1")  # an absent ref is not remembered as absent
        store.update_refs([("refs/heads/main", c3, c2)])
        assert store.head() == c3  # this view's own write is seen
    subprocess.run(["git", f"--git-dir={store.path}", "update-ref", "refs/heads/main", c2, c3], check=True)
    assert store.head() == c2  # outside a view: read every time
