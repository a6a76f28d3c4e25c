"""Issue 15, item 1: a change that was never released is seen only by its circle — its author
and those who took a step in it, the people who could sign it, the authors of its unit (who may
edit it), quality managers, auditors and admins. Everyone else gets 404 everywhere: pages, API,
lists, search (``scope=drafts``), the editor and every action."""

from __future__ import annotations

import pytest
from conftest import DOC, PEOPLE, release

from docctl.core.visibility import may_see_change

SEE = {"author", "author2", "approver", "qm", "qm2", "auditor", "admin"}  # of an OR procedure
NOT_SEE = set(PEOPLE) - SEE  # reader, approver_fn (another unit's approver)


def token(instance, login):
    return {"Authorization": f"Bearer {instance.users.create_token(login)}"}


@pytest.fixture
def drafts(instance, people):
    """A released P-01, then a draft (with a word of its own) and a change in review."""
    release(instance, people)
    wf = instance.workflow
    draft = wf.create(people["author"], doc_id="P-01", markdown=DOC + "\nSzkicowany zapis.\n", reason="Szkic")
    review = wf.create(
        people["author"],
        doc_id=None,
        markdown="# Nowa\n\nTekst.\n",
        reason="Nowa",
        title="Nowa",
        doc_type="procedure",
        unit="OR",
    )
    wf.submit(people["author"], review.number)
    return draft.number, review.number


def test_the_rule_itself(instance, people, drafts):
    policy = instance.workflow.policy()
    for number in drafts:
        change, doc_type, unit = instance.workflow.scope_of(number)
        seen = {login for login, person in people.items() if may_see_change(person, change, doc_type, unit, policy)}
        assert seen == SEE, number
        assert not may_see_change(None, change, doc_type, unit, policy)


@pytest.mark.parametrize("login", sorted(PEOPLE))
def test_pages_and_api_answer_404_outside_the_circle(client, instance, drafts, login):
    headers = token(instance, login)
    expected = 200 if login in SEE else 404
    listed = {c["number"] for c in client.get("/api/v1/changes", headers=headers).get_json()["changes"]}
    for number in drafts:
        assert client.get(f"/api/v1/changes/{number}", headers=headers).status_code == expected
        assert (number in listed) == (login in SEE)
    if login in NOT_SEE:
        for number in drafts:
            # every action is refused as if the change did not exist (not 403: no leak)
            for verb in ("submit", "cancel", "update", "approve", "reject"):
                answer = client.post(f"/api/v1/changes/{number}/{verb}", headers=headers, json={"password": "x"})
                assert answer.status_code == 404, verb
                assert answer.get_json()["error"]["message"] == f"change {number} does not exist"
            edit = client.put(f"/api/v1/changes/{number}", headers=headers, json={"markdown": "x", "head": "0" * 40})
            assert edit.status_code == 404
        # and a change that does not exist reads the same
        assert client.get("/api/v1/changes/999", headers=headers).get_json()["error"]["message"] == (
            "change 999 does not exist"
        )


@pytest.mark.parametrize("login", ["reader", "approver_fn", "approver", "auditor"])
def test_change_pages_editor_and_list(client, auth, drafts, login):
    auth.login(login)
    expected = 200 if login in SEE else 404
    draft, review = drafts
    for number in drafts:
        assert client.get(f"/changes/{number}").status_code == expected
    if login in NOT_SEE:
        assert client.get(f"/changes/{draft}/edit").status_code == 404
        token = auth.csrf("/documents")
        answer = client.post(f"/changes/{review}/approve", data={"password": "x", "csrf_token": token})
        assert answer.status_code == 404
    listing = client.get("/changes").get_data(as_text=True)
    assert (f'href="/changes/{draft}"' in listing) == (login in SEE)


def test_anonymous_callers_get_401_first(client, drafts):
    for number in drafts:
        assert client.get(f"/api/v1/changes/{number}").status_code == 401
        assert client.post(f"/api/v1/changes/{number}/submit").status_code == 401
    assert client.get("/api/v1/search?q=szkicowany&scope=drafts").status_code == 401


@pytest.mark.parametrize("login", sorted(PEOPLE))
def test_search_scope_drafts(client, instance, drafts, login):
    headers = token(instance, login)
    answer = client.get("/api/v1/search?q=szkicowany&scope=drafts", headers=headers)
    assert answer.status_code == 200
    found = [h["id"] for h in answer.get_json()["results"]]
    assert found == (["P-01"] if login in SEE else [])
    # the default scope never shows someone else's draft
    default = client.get("/api/v1/search?q=szkicowany", headers=headers).get_json()["results"]
    assert [h["id"] for h in default] == (["P-01"] if login == "author" else [])


def test_released_changes_are_public_record_and_cancelled_ones_are_not(client, instance, people, drafts):
    draft, _ = drafts
    released = release(instance, people, text=DOC + "\nDrugie wydanie.\n", reason="Drugie")
    instance.workflow.cancel(people["author"], draft, "Zbędny")
    headers = token(instance, "reader")
    assert client.get(f"/api/v1/changes/{released.number}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/changes/{draft}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/changes/{draft}", headers=token(instance, "auditor")).status_code == 200
