"""Read confirmations reported (issue 18): per document and per unit, who has and has not
confirmed the revision in force; a new revision asks again; my tasks lists what to confirm."""

from __future__ import annotations

import csv
import io

import pytest
from conftest import DOC, release

from docctl.reading import Reader


@pytest.fixture
def released(instance, people):
    release(instance, people, "P-01")  # unit OR: audience author, author2, approver, qm2
    release(
        instance,
        people,
        "IR-01",
        "# Instrukcja\n\nTekst.\n",
        doc_type="instruction",
        unit="FN",
        signers=("approver_fn",),
    )
    return instance


def names(report):
    return [c.login for c in report.confirmed], [m.login for m in report.missing]


def test_confirmations_per_document_and_a_new_revision_asks_again(released, people):
    reader = Reader(released)
    qm = people["qm"]
    assert names(reader.confirmations(qm, "P-01")) == ([], ["approver", "author", "author2", "qm2"])
    released.acks.record("author2", "P-01", 1)
    released.acks.record("approver", "P-01", 1)
    assert names(reader.confirmations(qm, "P-01")) == (["approver", "author2"], ["author", "qm2"])
    release(released, people, "P-01", DOC + "\nZmiana.\n", reason="Druga", author="author")
    report = reader.confirmations(qm, "P-01")
    assert report.revision == 2
    assert names(report) == ([], ["approver", "author", "author2", "qm2"])  # asked again


def test_who_may_see_confirmations(released, people):
    reader = Reader(released)
    for login in ("qm", "auditor", "admin", "approver"):
        assert reader.confirmations(people[login], "P-01").revision == 1
    from docctl.core.errors import Forbidden

    for login in ("reader", "author", "approver_fn"):  # approver_fn approves FN, not OR
        with pytest.raises(Forbidden):
            reader.confirmations(people[login], "P-01")


def test_my_tasks_list_documents_to_confirm(released, people, client, auth):
    auth.login("author2")
    page = client.get("/").get_data(as_text=True)
    assert "Documents to read and confirm" in page and "P-01" in page.split("Changes awaiting")[0]
    assert "IR-01" not in page.split("Changes awaiting")[0]  # FN's instruction is not for OR
    auth.post("/documents/P-01/acknowledge", token_from="/documents/P-01")
    page = client.get("/").get_data(as_text=True)
    assert "You have confirmed every document in force for your units" in page


def test_the_unit_report_page_csv_and_api(released, client, auth):
    released.acks.record("author", "P-01", 1)
    auth.login("auditor")
    page = client.get("/acknowledgements?unit=OR").get_data(as_text=True)
    assert "P-01" in page and "1 confirmed, 3 not yet" in page and "IR-01" not in page
    rows = list(csv.DictReader(io.StringIO(client.get("/acknowledgements?unit=OR&format=csv").get_data(as_text=True))))
    assert {(r["login"], r["confirmed"]) for r in rows} == {
        ("author", "yes"),
        ("author2", "no"),
        ("approver", "no"),
        ("qm2", "no"),
    }
    body = client.get("/api/v1/documents/P-01/acknowledgements?unit=OR").get_json()
    assert body["revision"] == 1 and [c["login"] for c in body["confirmed"]] == ["author"]
    assert sorted(m["login"] for m in body["missing"]) == ["approver", "author2", "qm2"]
    assert client.get("/documents/P-01/acknowledgements").status_code == 200
    client.get("/logout")
    auth.login("author")
    assert client.get("/api/v1/documents/P-01/acknowledgements").status_code == 403
    assert client.get("/acknowledgements?unit=OR").status_code == 403


def test_confirmations_cannot_be_altered(released):
    import sqlite3

    released.acks.record("author", "P-01", 1)
    conn = sqlite3.connect(released.acks.path)
    for statement in ("UPDATE acknowledgements SET at='2020-01-01'", "DELETE FROM acknowledgements"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    conn.close()


def test_the_trail_finds_confirmations_of_a_large_unit(instance, clock):
    """A unit with more documents than SQL parameters: its confirmations are all in the trail."""
    from docctl.derived.audit_trail import TrailQuery, trail_page

    units = {f"P-{n:04d}": "OR" for n in range(1500)}
    for n in (0, 1200, 1499):
        clock.advance(minutes=1)
        instance.acks.record("author", f"P-{n:04d}", 1)
    instance.acks.record("author", "IR-01", 1)
    units["IR-01"] = "FN"
    events, _ = trail_page(instance.catalog.trail, instance.acks, TrailQuery(unit="OR"), units=units, names={})
    assert [e.document_id for e in events if e.action == "confirmed_read"] == ["P-1499", "P-1200", "P-0000"]
