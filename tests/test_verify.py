"""`docctl verify`: each way of bypassing the workflow is named, with its commit (issue 18).

Every fault is made for real — with plain git on the repository, as someone bypassing docctl
would, or by a workflow bent with monkeypatch to skip one rule — and the report must name it.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import DOC, PASSWORD, POLICY, release

import docctl.workflow
import docctl.workflow.approval
from docctl.core.policy import parse_policy


def git(instance, *args, input=None) -> str:
    proc = subprocess.run(
        ["git", f"--git-dir={instance.store.path}", *args], input=input, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def problems(instance) -> list[str]:
    report = instance.verify()
    return [f"{p.commit[:10]} {p.problem}" for p in report.problems]


@pytest.fixture
def history(instance, people):
    """Two documents, one with two revisions, a review: a small honest history."""
    release(instance, people, "P-01")
    release(instance, people, "P-01", DOC + "\nZmiana.\n", reason="Druga rewizja")
    release(instance, people, "IR-01", "# Instrukcja\n\nTekst.\n", doc_type="instruction", signers=("approver",))
    instance.workflow.review(people["approver"], "IR-01", password=PASSWORD, comment="Aktualna")
    return instance


def test_an_honest_history_verifies(history):
    report = history.verify()
    assert report.ok, report.problems
    assert report.releases == 3 and report.signatures == 5
    # 7 on main (init, 2 signers' keys listed, 3 releases, review) + 14 change steps + 3 anchors
    assert report.commits == 24
    assert report.signed_commits == 24


def test_a_commit_added_with_plain_git_is_named(history):
    head = git(history, "rev-parse", "main")
    blob = git(history, "hash-object", "-w", "--stdin", input="---\nid: P-01\n---\nhacked\n")
    tree = history.store.tree_with(git(history, "rev-parse", "main^{tree}"), {"documents/P-01.md": blob})
    forged = git(history, "commit-tree", tree, "-p", head, "-m", "quick fix")
    git(history, "update-ref", "-m", "manual edit", "refs/heads/main", forged, head)
    found = problems(history)
    assert any(p.startswith(forged[:10]) and "not a docctl step" in p for p in found), found
    assert any("moved by something other than docctl" in p for p in found), found


def test_an_amended_old_release_is_named(history):
    """Rewriting an old release (and replaying what followed) leaves main looking consistent,
    but its reflog shows the jump to a history that was never recorded."""
    commits = git(history, "rev-list", "--first-parent", "--reverse", "main").split()
    old = commits[1]  # the first release
    message = git(history, "log", "-1", "--format=%B", old).replace("Wydanie pierwsze", "Wydanie poprawione")
    parents = git(history, "log", "-1", "--format=%P", old).split()
    new = git(history, "commit-tree", f"{old}^{{tree}}", *sum((["-p", p] for p in parents), []), "-m", message)
    for sha in commits[2:]:
        parents = git(history, "log", "-1", "--format=%P", sha).split()
        parents[0] = new
        body = git(history, "log", "-1", "--format=%B", sha)
        new = git(history, "commit-tree", f"{sha}^{{tree}}", *sum((["-p", p] for p in parents), []), "-m", body)
    git(history, "update-ref", "-m", "docctl: release P-01 r1", "refs/heads/main", new)
    found = problems(history)
    assert any("no longer in its history (rewritten)" in p for p in found), found
    assert any("without a recorded move of main" in p for p in found), found


def test_a_force_moved_main_is_named(history):
    back = git(history, "rev-parse", "main~2")
    git(history, "update-ref", "-m", "docctl: nothing to see", "refs/heads/main", back)
    found = problems(history)
    assert any(p.startswith(back[:10]) and "jumped" in p for p in found), found
    assert any("rewritten" in p for p in found), found


def test_a_forged_signature_trailer_is_named(history):
    """A release rewritten to claim an approval nobody gave on the change branch."""
    head = git(history, "rev-parse", "main")
    wanted = ("--all-match", "--grep=^Action: release$", "--grep=^Document: IR-01$")
    release_commit = git(history, "log", "-1", "--format=%H", *wanted, "main")
    assert release_commit != head  # the review came after it
    message = git(history, "log", "-1", "--format=%B", release_commit).rstrip("\n")
    message += "\nApproved-by: Szef Wszystkich <szef@um.example.pl>\n"
    parents = git(history, "log", "-1", "--format=%P", release_commit).split()
    forged = git(
        history, "commit-tree", f"{release_commit}^{{tree}}", "-p", parents[0], "-p", parents[1], "-m", message
    )
    review_msg = git(history, "log", "-1", "--format=%B", head)
    top = git(history, "commit-tree", f"{head}^{{tree}}", "-p", forged, "-m", review_msg)
    git(history, "update-ref", "-m", "docctl: review IR-01", "refs/heads/main", top)
    found = problems(history)
    assert any(p.startswith(forged[:10]) and "Szef Wszystkich" in p for p in found), found


def test_a_release_missing_a_required_signature_is_named(instance, people, monkeypatch):
    """The workflow was bent to a laxer policy; the policy recorded in git still asks for two."""
    lax = parse_policy(
        POLICY.replace(
            "procedure: [{role: approver, scope: unit, meaning: review}, {role: quality_manager, meaning: approval}]",
            "procedure: [{role: quality_manager, meaning: approval}]",
        )
    )
    monkeypatch.setattr(docctl.workflow.Workflow, "policy", lambda self: lax)
    release(instance, people, "P-01", signers=("qm",))
    monkeypatch.undo()
    found = problems(instance)
    assert any("released without the signature required: review: approver of unit OR" in p for p in found), found


def test_a_signer_who_edited_the_change_is_named(instance, people, monkeypatch):
    wf = instance.workflow
    change = wf.create(
        people["author"], doc_id="P-01", markdown=DOC, reason="Pierwsze", title="T", doc_type="procedure", unit="OR"
    )
    wf.edit(people["qm2"], change.number, markdown=DOC + "\nPoprawka.\n", expected_head=wf.get(change.number).head)
    wf.submit(people["author"], change.number)
    monkeypatch.setattr(docctl.core.changes.Change, "editors", property(lambda self: frozenset({"author"})))
    wf.approve(people["approver"], change.number, password=PASSWORD)
    wf.approve(people["qm2"], change.number, password=PASSWORD)
    monkeypatch.undo()
    found = problems(instance)
    assert any("Qm2 <qm2@um.example.pl> signed change 1 after preparing or editing it" in p for p in found), found


def test_a_signer_given_the_role_only_later_is_named(history, clock):
    clock.advance(days=3)
    with history.users._db() as conn:  # the journal says the role came after the signatures
        conn.execute(
            "INSERT INTO account_events (at, actor, login, event, detail) VALUES (?,?,?,?,?)",
            (clock().isoformat(), "admin", "qm", "grant", "role quality_manager"),
        )
    found = problems(history)
    assert any("signer qm was given role quality_manager only on" in p for p in found), found


def test_a_signature_on_other_content_is_named(instance, people, monkeypatch):
    real = docctl.workflow.approval.format_message

    def wrong_content(subject, body="", trailers=None):
        trailers = [
            ("Content", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391") if k == "Content" else (k, v)
            for k, v in trailers or []
        ]
        return real(subject, body, trailers)

    monkeypatch.setattr(docctl.workflow.approval, "format_message", wrong_content)
    release(instance, people, "P-01")
    monkeypatch.undo()
    found = problems(instance)
    assert sum("signed content e69de29bb2, not the released" in p for p in found) == 2, found


def test_revisions_out_of_order_are_named(history):
    """A release commit whose Revision skips one (made with plain git, so the reflog says so too)."""
    head = git(history, "rev-parse", "main")
    last = git(history, "log", "-1", "--format=%H", "--grep=^Document: P-01$", "main")
    message = git(history, "log", "-1", "--format=%B", last).replace("Revision: 2", "Revision: 4")
    parents = git(history, "log", "-1", "--format=%P", last).split()
    blob = git(history, "rev-parse", f"{last}:documents/P-01.md")
    changed = history.store.tree_with(git(history, "rev-parse", "main^{tree}"), {"documents/P-01.md": None})
    tree = history.store.tree_with(changed, {"documents/P-01.md": blob})
    forged = git(history, "commit-tree", tree, "-p", head, "-p", parents[1], "-m", message)
    git(history, "update-ref", "-m", "docctl: release P-01 r4", "refs/heads/main", forged, head)
    found = problems(history)
    assert any(p.startswith(forged[:10]) and "revision 4 of P-01 follows revision 2" in p for p in found), found


def test_verify_cli_exit_code(history):
    from click.testing import CliRunner

    from docctl.cli import main

    result = CliRunner().invoke(main, ["--instance", str(history.root), "verify"])
    assert result.exit_code == 0 and "the history holds" in result.output
    head = git(history, "rev-parse", "main")
    git(history, "update-ref", "-m", "oops", "refs/heads/main", git(history, "rev-parse", "main~1"), head)
    result = CliRunner().invoke(main, ["--instance", str(history.root), "verify"])
    assert result.exit_code == 1
    assert "moved by something other than docctl" in result.output


def test_missing_trailers_are_named(history):
    """A release rewritten without its reason (plain git again, so the reflog speaks too)."""
    head = git(history, "rev-parse", "main")
    last = git(
        history, "log", "-1", "--format=%H", "--all-match", "--grep=^Action: release$", "--grep=^Document: P-01$"
    )
    message = "\n".join(
        line
        for line in git(history, "log", "-1", "--format=%B", last).splitlines()
        if not line.startswith("Change-Reason:")
    )
    parents = git(history, "log", "-1", "--format=%P", last).split()
    forged = git(history, "commit-tree", f"{last}^{{tree}}", "-p", head, "-p", parents[1], "-m", message)
    git(history, "update-ref", "-m", "docctl: release P-01 r3", "refs/heads/main", forged, head)
    found = problems(history)
    assert any(p.startswith(forged[:10]) and "without required trailers: Change-Reason" in p for p in found), found
