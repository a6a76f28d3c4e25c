"""The register as it stood on any date, documents as of a date, the change record, and status
words that are always right (issue 18)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner
from conftest import DOC, PASSWORD, release

from docctl.cli import main


@pytest.fixture
def history(instance, people, clock):
    """P-01 r1 (March), P-02 r1 released in April effective May, P-01 r2 (June), P-02 withdrawn (July)."""
    clock.set_day(date(2026, 3, 2))
    release(instance, people, "P-01")
    clock.set_day(date(2026, 4, 1))
    release(instance, people, "P-02", title="Audyty", reason="Nowa procedura", effective_date=date(2026, 5, 1))
    clock.set_day(date(2026, 6, 1))
    release(instance, people, "P-01", DOC + "\nZmiana.\n", reason="Nowe wymagania")
    clock.set_day(date(2026, 7, 1))
    wf = instance.workflow
    change = wf.withdraw(people["author"], "P-02", reason="Zastąpiona przez P-01")
    for signer in ("approver", "qm"):
        wf.approve(people[signer], change.number, password=PASSWORD)
    clock.set_day(date(2026, 8, 3))
    return instance


def register(instance, day: str) -> dict:
    states = instance.catalog.master_list(date.fromisoformat(day), include_obsolete=True)
    return {s.doc_id: (s.shown.revision, s.status) for s in states}


def test_the_register_on_dates_matches_the_history_that_made_it(history):
    assert register(history, "2026-03-01") == {}
    assert register(history, "2026-03-15") == {"P-01": (1, "effective")}
    # released on 1 April, effective 1 May: on 15 April it existed as approved, not in force
    assert register(history, "2026-04-15") == {"P-01": (1, "effective"), "P-02": (1, "approved")}
    assert register(history, "2026-05-15") == {"P-01": (1, "effective"), "P-02": (1, "effective")}
    assert register(history, "2026-06-15") == {"P-01": (2, "effective"), "P-02": (1, "effective")}
    assert register(history, "2026-07-15") == {"P-01": (2, "effective"), "P-02": (1, "obsolete")}


def test_the_register_api_and_page_honour_as_of(history, client, auth):
    auth.login("reader")
    body = client.get("/api/v1/documents?as_of=2026-04-15").get_json()
    assert [(d["id"], d["revision"], d["status"]) for d in body["documents"]] == [
        ("P-01", 1, "effective"),
        ("P-02", 1, "approved"),
    ]
    today = client.get("/api/v1/documents?obsolete=1").get_json()["documents"]
    assert [(d["id"], d["revision"], d["status"]) for d in today] == [("P-01", 2, "effective"), ("P-02", 1, "obsolete")]
    page = client.get("/documents?as_of=2026-04-15").get_data(as_text=True)
    assert "THE REGISTER AS IT STOOD ON 2026-04-15" in page
    assert "/documents/P-02?as_of=2026-04-15" in page and "approved, not yet in force" in page
    assert "THE REGISTER AS IT STOOD" not in client.get("/documents").get_data(as_text=True)
    assert client.get("/documents?as_of=2026-02-30").status_code == 422


def test_a_document_opens_as_of_a_date_with_the_banner_of_that_day(history, client, auth):
    auth.login("reader")
    page = client.get("/documents/P-01?as_of=2026-03-15").get_data(as_text=True)
    assert "AS OF 2026-03-15" in page and "Revision 1 was in force on that day" in page
    assert "I have read and understood" not in page  # confirmations only for today's revision
    page = client.get("/documents/P-02?as_of=2026-04-15").get_data(as_text=True)
    assert "Revision 1 was approved, not yet in force, on that day" in page
    assert client.get("/documents/P-02?as_of=2026-03-15").status_code == 404
    today = client.get("/documents/P-02").get_data(as_text=True)
    assert "OBSOLETE" in today and "Zastąpiona przez P-01" in today


def test_status_words_are_right_everywhere(history, client, auth):
    auth.login("reader")
    doc = client.get("/api/v1/documents/P-02").get_json()
    assert doc["status"] == "obsolete"
    assert doc["withdrawn"] == {"on": "2026-07-01", "reason": "Zastąpiona przez P-01"}
    listed = client.get("/api/v1/documents?obsolete=1").get_json()["documents"]
    assert listed[1]["withdrawn"] == doc["withdrawn"] and "withdrawn" not in listed[0]
    old = client.get("/api/v1/documents/P-01/revisions/1").get_json()
    assert (old["status"], old["current"]) == ("superseded", False)
    assert client.get("/api/v1/documents/P-01").get_json()["status"] == "effective"


def test_the_change_record_is_generated_from_history(history, client, auth):
    auth.login("reader")
    for path in ("/documents/P-01", "/documents/P-01/print"):
        page = client.get(path).get_data(as_text=True)
        record = page[page.index("Change record") :]
        assert "Wydanie pierwsze" in record and "Nowe wymagania" in record, path
        assert "Approver (2026-06-01" in record and "Qm (2026-06-01" in record, path
    old = client.get("/documents/P-01/revisions/1").get_data(as_text=True)
    assert "Nowe wymagania" not in old[old.index("Change record") :]  # the record up to that revision


def test_export_master_list_as_of(history):
    run = CliRunner().invoke
    result = run(main, ["--instance", str(history.root), "export", "master-list", "--as-of", "2026-04-15"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "id,title,type,unit,revision,effective_date,review_due,status"
    assert lines[1].startswith("P-01,") and lines[1].endswith(",effective")
    assert lines[2].startswith("P-02,Audyty,procedure,OR,1,2026-05-01,") and lines[2].endswith(",approved")
    result = run(main, ["--instance", str(history.root), "export", "master-list", "--format", "json"])
    data = json.loads(result.output)
    assert date.fromisoformat(data["as_of"]) >= date(2026, 8, 3)  # the CLI runs on the real clock: today
    assert [(d["id"], d["status"]) for d in data["documents"]] == [("P-01", "effective"), ("P-02", "obsolete")]
    bad = run(main, ["--instance", str(history.root), "export", "master-list", "--as-of", "yesterday"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
