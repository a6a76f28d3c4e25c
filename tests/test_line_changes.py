"""What each commit on main changed, foretold from its trailers and proven by its folder's hash
(audit/line_changes.py, issue 33), is git's own answer (``git log --first-parent --raw``) for an
honest history, a release with figures, a withdrawal and commits written by hand; and a folder
foretold that the repository does not hold fails the check as git would."""

from __future__ import annotations

import subprocess

import pytest
from conftest import DOC, PASSWORD, release
from test_authorization import tiny_png

from docctl.audit import line_changes
from docctl.core.changes import STEP_TRAILERS
from docctl.core.errors import DocctlError
from docctl.core.figures import figure_from_bytes


def git(instance, *args, input=None) -> str:
    proc = subprocess.run(
        ["git", f"--git-dir={instance.store.path}", *args], input=input, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def by_git(instance) -> list[tuple[str, dict]]:
    walked = instance.store.walk(["refs/heads/main"], first_parent=True, paths=True)
    return [(c.sha, changed) for c, changed in walked][::-1]


MAIN = "refs/heads/main"


def foretold(instance) -> tuple[list[tuple[str, dict]], line_changes.LineChanges]:
    store = instance.store
    steps = {c.sha: c for c, _ in store.walk([MAIN], change_branches=True, bodies=False, keep=STEP_TRAILERS)}
    line = [c for c, _ in store.walk(["refs/heads/main"], first_parent=True)][::-1]
    seen = line_changes.LineChanges(store, steps)
    found = seen.of(line)
    return [(c.sha, changed) for c, changed in found], seen


@pytest.fixture
def history(instance, people):
    release(instance, people, "P-01")
    release(instance, people, "P-01", DOC + "\nZmiana.\n", reason="Druga rewizja")
    release(instance, people, "P-02", "# Zapisy\n\nTekst.\n", title="Zapisy")
    figure = figure_from_bytes(tiny_png())
    change = instance.workflow.create(
        people["author"],
        doc_id="IR-01",
        markdown=f"# Instrukcja\n\nTekst.\n\n![Schemat](IR-01/{figure.name})\n",
        reason="Z rysunkiem",
        title="Instrukcja",
        doc_type="instruction",
        unit="OR",
        figures=[figure],
    )
    instance.workflow.submit(people["author"], change.number)
    instance.workflow.approve(people["approver"], change.number, password=PASSWORD)
    instance.workflow.review(people["approver"], "P-01", password=PASSWORD, comment="Aktualna")
    withdrawal = instance.workflow.withdraw(people["author"], "P-02", reason="Zbędna")
    for signer in ("approver", "qm"):
        instance.workflow.approve(people[signer], withdrawal.number, password=PASSWORD)
    return instance


def test_each_commit_of_an_honest_history_changed_what_git_says(history, monkeypatch):
    found, seen = foretold(history)
    assert found == by_git(history)
    # foretold: P-01's second release (a changed entry), P-02's first (a new one), the review
    # (nothing changed) and the withdrawal (a removed one); compared by git: the first commit,
    # the two signers' keys, P-01's first release (no folder before it), the one with a figure
    assert (seen.predicted, seen.compared) == (4, 5)
    monkeypatch.setattr(line_changes, "SPLIT_FROM", 2)  # in two halves, one thread each
    store = history.store
    steps = {c.sha: c for c, _ in store.walk([MAIN], change_branches=True, bodies=False, keep=STEP_TRAILERS)}
    line = [c for c, _ in store.walk(["refs/heads/main"], first_parent=True)][::-1]
    assert [(c.sha, changed) for c, changed in line_changes.changes(store, line, steps)] == by_git(history)


def test_a_release_that_changed_more_than_its_document_is_compared_by_git(history):
    """A commit written by hand with a real release's trailers and parents, whose folder also
    changes another document: the hash does not match what the trailers foretell."""
    head = git(history, "rev-parse", "main")
    # the first release of P-01: its trailers foretell P-01's first text again
    real = git(history, "log", "--first-parent", "--format=%H", "--grep=^Document: P-01", "main").split()[-1]
    message = git(history, "log", "-1", "--format=%B", real)
    marker = git(history, "rev-parse", f"{real}^2")
    content = git(history, "log", "-1", "--format=%(trailers:key=Content,valueonly)", f"{marker}^")
    document = git(history, "log", "-1", "--format=%(trailers:key=Document,valueonly)", real)
    extra = git(history, "hash-object", "-w", "--stdin", input="---\nid: P-09\n---\nhidden\n")
    tree = history.store.tree_with(
        git(history, "rev-parse", "main^{tree}"), {f"documents/{document}.md": content, "documents/P-09.md": extra}
    )
    forged = git(history, "commit-tree", tree, "-p", head, "-p", marker, input=message + "\n")
    git(history, "update-ref", "refs/heads/main", forged, head)
    found, seen = foretold(history)
    assert found == by_git(history)
    assert found[-1][1] == {f"documents/{document}.md": content, "documents/P-09.md": extra}


def test_a_folder_foretold_that_git_does_not_hold_fails_the_check(history):
    """The folder a release foretells is hashed, never read: that git holds it is checked apart
    (``git log --raw`` would have failed on it)."""
    from docctl.stores.git.trees import BLOB_MODE, spliced

    head = git(history, "rev-parse", "main")
    real = git(history, "log", "--first-parent", "--format=%H", "--grep=^Action: release", "-n", "1", "main")
    message = git(history, "log", "-1", "--format=%B", real)
    marker = git(history, "rev-parse", f"{real}^2")
    document = git(history, "log", "-1", "--format=%(trailers:key=Document,valueonly)", real)
    text = git(history, "hash-object", "-w", "--stdin", input=DOC + "\nJeszcze raz.\n")
    approval = git(history, "log", "-1", "--format=%H", f"{marker}^")
    signed = git(history, "commit-tree", f"{approval}^{{tree}}", "-p", approval, input=f"x\n\nContent: {text}\n")
    fake_marker = git(history, "commit-tree", f"{approval}^{{tree}}", "-p", signed, input="released\n")
    folder = history.store.raw_tree(git(history, "rev-parse", "main:documents"))
    guess = spliced(folder, {f"{document}.md".encode(): (BLOB_MODE, bytes.fromhex(text))})
    guessed = line_changes._tree_id(guess)  # never written
    root = git(history, "cat-file", "-p", "main^{tree}").replace(git(history, "rev-parse", "main:documents"), guessed)
    tree = git(history, "mktree", "--missing", input=root + "\n")
    forged = git(history, "commit-tree", tree, "-p", head, "-p", fake_marker, input=message + "\n")
    git(history, "update-ref", "refs/heads/main", forged, head)
    with pytest.raises(DocctlError, match="missing"):
        foretold(history)
    assert any("main cannot be read" in p.problem and "missing" in p.problem for p in history.verify().problems)


def test_a_wide_folder_changes_as_git_would_write_it_and_hashes_from_where_it_changed():
    """The bisection finds the place ``trees.spliced`` (checked against git's own index in
    test_trees.py) finds, in a folder of 6,000 entries with subfolders among them; a same-size
    change is hashed from the last kept state before it, to git's id of the whole."""
    import hashlib
    import random

    from docctl.stores.git.trees import BLOB_MODE, TREE_MODE, spliced

    rng = random.Random(33)
    names = sorted({f"P-{rng.randrange(100000):05d}" for _ in range(6000)})
    entries = {}
    for name in names:
        folder = rng.random() < 0.05
        entries[(name if folder else name + ".md").encode()] = (TREE_MODE if folder else BLOB_MODE, rng.randbytes(20))
    raw = spliced(b"", entries)
    _, states = line_changes._hashed(raw)
    assert len(raw) > 3 * line_changes.STEP
    for _ in range(200):
        name = rng.choice([*entries, f"P-{rng.randrange(100000):05d}.md".encode()])
        entry = None if rng.random() < 0.2 else (BLOB_MODE, rng.randbytes(20))
        changed = line_changes._with_entry(raw, name, entry)
        if entries.get(name, (BLOB_MODE,))[0] == TREE_MODE:
            continue  # a subfolder is never a document's entry
        expected = spliced(raw, {name: entry})
        if expected == raw:
            assert changed is None  # nothing to remove
            continue
        new, since, same_size = changed
        assert new == expected and same_size == (len(new) == len(raw))
        sha, _ = line_changes._hashed(new, states if same_size else None, since)
        assert sha == hashlib.sha1(b"tree %d\0" % len(new) + new).hexdigest()  # noqa: S324


def test_a_root_folder_git_does_not_hold_is_named_as_git_would_name_it(history):
    """A commit on main whose root tree git does not hold fails the check as `git log --raw` did
    (verify: "main cannot be read"), not with an error of its own."""
    head = git(history, "rev-parse", "main")
    who = "A <a@example.org> 1767225600 +0000"
    raw = f"tree {'1' * 40}\nparent {head}\nauthor {who}\ncommitter {who}\n\nx\n\nAction: review\n"
    forged = git(history, "hash-object", "-t", "commit", "-w", "--stdin", input=raw)
    git(history, "update-ref", "refs/heads/main", forged, head)
    with pytest.raises(DocctlError):
        foretold(history)
    assert any("main cannot be read" in p.problem for p in history.verify().problems)
