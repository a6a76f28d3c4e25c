"""The benchmark's history generator writes docctl's exact format: the same commits with the same
trailers, in the same order, as the workflow; and docctl serves and continues a generated history."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
from history import PASSWORD, generate  # noqa: E402


def _shapes(instance, ref: str, change: int | None = None) -> list[tuple[str, list[str]]]:
    """(Action, trailer keys) of each first-parent commit on ``ref`` (of one change), oldest first."""
    commits = instance.store.log(instance.store.head(ref), first_parent=True, reverse=True)
    own = [c for c in commits if change is None or c.trailer("Change") == str(change)]
    return [(c.trailer("Action") or "", [k for k, _ in c.trailers]) for c in own]


@pytest.fixture
def generated(tmp_path):
    return generate(tmp_path / "gen", documents=3, revisions=2, progress=lambda _: None)


def test_generated_commits_have_the_workflow_shape(generated, instance, people):
    from conftest import DOC, release

    release(instance, people, doc_id="P-0001", title="Procedura 1")
    release(instance, people, doc_id="P-0001", title="Procedura 1", text=DOC + "\nDwa.\n", reason="Dwa")
    grown_main = [s for s in _shapes(instance, "refs/heads/main") if s[0] == "release"]
    generated_main = [s for s in _shapes(generated, "refs/heads/main") if s[0] == "release"]
    assert {tuple(keys) for _, keys in generated_main} == {tuple(keys) for _, keys in grown_main}
    grown_change = _shapes(instance, "refs/heads/changes/2", 2)
    generated_change = _shapes(generated, "refs/heads/changes/4", 4)
    assert [a for a, _ in generated_change] == ["create", "submit", "approve", "approve", "release"]
    assert generated_change == grown_change


def test_a_generated_history_is_served_and_continued(generated):
    generated.start()
    wf = generated.workflow
    assert [r.revision for r in generated.catalog.revisions("P-0002")] == [2, 1]
    done = wf.get(5)
    assert done.state == "released" and len(done.signatures) == 2 and done.base_revision == 1
    assert len(wf.list_changes()) == 6
    author, approver, qm = (generated.users.get(x) for x in ("author", "approver", "qm"))
    change = wf.create(author, doc_id="P-0002", markdown="# Procedura 2\n\nRewizja trzecia.\n", reason="Trzy")
    assert change.number == 7 and change.base_revision == 2
    wf.submit(author, change.number)
    wf.approve(approver, change.number, password=PASSWORD)
    assert wf.approve(qm, change.number, password=PASSWORD).state == "released"
    assert generated.catalog.revisions("P-0002")[0].revision == 3
    hits = generated.search.search("trzecia", at=generated.today()).hits
    assert [(h.doc_id, h.revision) for h in hits] == [("P-0002", 3)]


def test_a_generated_history_verifies_as_grown_through_docctl(generated):
    """Same commits, same reflog of main: `docctl verify` finds nothing to report."""
    report = generated.verify()
    assert report.ok, report.problems[:5]
    assert report.releases == 6 and report.signatures == 12
