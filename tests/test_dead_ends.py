"""Issue 17: no dead ends. A change in review names who can still sign it; when nobody can, it says
so, tells what to do, and stays in the tasks of its author and the quality managers. Sign and
reject forms appear only to people who may use them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import DOC, PASSWORD, release

from docctl.cli import main


@pytest.fixture
def qm_edited(instance, people):
    """The only active quality manager edited the change: nobody can give the QM approval."""
    release(instance, people)
    instance.users.update("qm2", active=False)
    wf = instance.workflow
    change = wf.create(people["author"], doc_id="P-01", markdown=DOC + "\nZmiana.\n", reason="Zmiana")
    change = wf.edit(people["qm"], change.number, markdown=DOC + "\nZmiana QM.\n", expected_head=change.head)
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password=PASSWORD)
    return change.number


def page_of(client, auth, login, number) -> str:
    auth.login(login)
    html = client.get(f"/changes/{number}").get_data(as_text=True)
    auth.post("/logout")
    return html


def test_the_dead_end_is_said_plainly_and_stays_in_tasks(client, auth, instance, qm_edited):
    html = page_of(client, auth, "author", qm_edited)
    assert "approval by quality_manager" in html and "nobody can sign this now" in html
    assert "Nobody can give this signature" in html and "docctl user grant" in html
    for login in ("author", "qm"):
        auth.login(login)
        home = client.get("/").get_data(as_text=True)
        assert "Changes nobody can sign" in home and f"Change {qm_edited}:" in home, login
        auth.post("/logout")
    auth.login("reader")
    assert "Changes nobody can sign" not in client.get("/").get_data(as_text=True)


def test_sign_and_reject_forms_only_for_people_who_may_use_them(client, auth, instance, people):
    release(instance, people)
    change = instance.workflow.create(people["author"], doc_id="P-01", markdown=DOC + "\nX.\n", reason="X")
    instance.workflow.submit(people["author"], change.number)
    expected = {"author": (False, False), "reader": (False, False), "approver": (True, True), "qm": (True, True)}
    expected["approver_fn"] = (False, False)  # another unit's approver
    for login, (sign, reject) in expected.items():
        html = page_of(client, auth, login, change.number)
        assert ("/approve" in html, "/reject" in html) == (sign, reject), login
    html = page_of(client, auth, "author", change.number)
    assert "can be signed by Approver" in html and "Qm" in html  # named, by role requirement


def test_an_admin_grant_resolves_it_and_is_recorded(client, auth, instance, people, qm_edited):
    result = CliRunner().invoke(
        main,
        [
            "--instance",
            str(instance.root),
            "user",
            "grant",
            "approver_fn",
            "--role",
            "quality_manager",
            "--by",
            "admin",
        ],
    )
    assert result.exit_code == 0, result.output
    events = instance.users.account_events("approver_fn")
    assert [(e["actor"], e["event"], e["detail"]) for e in events] == [("admin", "grant", "role quality_manager")]
    html = page_of(client, auth, "author", qm_edited)
    assert "nobody can sign this now" not in html and "Approver Fn" in html
    granted = instance.users.get("approver_fn")
    assert instance.workflow.approve(granted, qm_edited, password=PASSWORD).state == "released"
