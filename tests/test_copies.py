"""Issue 16, item 3: numbered controlled copies — issued, printed with their number and holder,
recorded in git, listed to withdraw once their revision is no longer in force, marked returned."""

from __future__ import annotations

import subprocess

import pytest
from conftest import DOC, release

from docctl.audit.copies import COPIES
from docctl.core.errors import Forbidden


@pytest.fixture
def released(instance, people):
    release(instance, people)
    return instance


def units(instance):
    return instance.workflow.policy().units


def test_copies_are_numbered_per_document_and_recorded_in_git(released, people):
    copies = released.copies
    first = copies.issue(people["qm"], "P-01", holder_unit="FN", units=units(released))
    second = copies.issue(people["approver"], "P-01", holder_login="reader", holder_name="Reader")
    assert (first.number, first.holder, first.revision) == (1, "Wydział Finansowy", 1)
    assert (second.number, second.holder_login) == (2, "reader")
    log = subprocess.run(
        ["git", "--git-dir", str(released.store.path), "log", "--format=%s%n%(trailers:only)", COPIES],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Controlled copy 1 of P-01 revision 1 issued to Wydział Finansowy" in log
    assert "Action: copy-issued" in log and "Holder-Unit: FN" in log and "Copy: 2" in log


def test_only_quality_managers_and_approvers_of_the_unit_issue_copies(released, people):
    for login in ("reader", "author", "approver_fn", "auditor"):
        with pytest.raises(Forbidden):
            released.copies.issue(people[login], "P-01", holder_unit="FN", units=units(released))


def test_a_superseded_copy_is_listed_to_withdraw_until_returned(released, people):
    copy = released.copies.issue(people["qm"], "P-01", holder_unit="FN", units=units(released))
    assert released.copies.to_withdraw(released.today()) == []
    release(released, people, text=DOC + "\nDrugie wydanie.\n", reason="Drugie")
    due = released.copies.to_withdraw(released.today())
    assert [(c.number, why) for c, why in due] == [(copy.number, "superseded by revision 2")]
    released.copies.mark_returned(people["qm"], "P-01", copy.number)
    assert released.copies.to_withdraw(released.today()) == []
    assert not released.copies.get("P-01", copy.number).held


def test_pages_issue_print_and_return(client, auth, released, people):
    auth.login("qm")
    csrf = auth.csrf("/documents/P-01/copies")
    answer = client.post("/documents/P-01/copies", data={"holder": "unit:FN", "csrf_token": csrf})
    assert answer.status_code == 302
    page = client.get("/documents/P-01/copies").get_data(as_text=True)
    assert "Controlled copy no. 1 issued to Wydział Finansowy." in page and "held" in page
    printed = client.get("/documents/P-01/copies/1/print").get_data(as_text=True)
    assert "Controlled copy no. 1 — Wydział Finansowy" in printed and "uncontrolled copy" not in printed
    release(released, people, text=DOC + "\nDrugie wydanie.\n", reason="Drugie")
    due = client.get("/copies").get_data(as_text=True)
    assert "superseded by revision 2" in due and "Wydział Finansowy" in due
    csrf = auth.csrf("/copies")
    client.post("/documents/P-01/copies/1/returned", data={"csrf_token": csrf, "next": "/copies"})
    assert "No copies to withdraw." in client.get("/copies").get_data(as_text=True)


def test_a_reader_does_not_see_the_register(client, auth, released):
    auth.login("reader")
    assert client.get("/documents/P-01/copies").status_code == 403
