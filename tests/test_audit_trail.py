"""The audit trail (issue 18): one chronological list of every recorded step and confirmation,
derived from git and the confirmation store, filtered four ways, paged, exported, read-only."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from conftest import DOC, PASSWORD, release

from docctl.derived.audit_trail import PAGE_SIZE, TrailQuery


@pytest.fixture
def history(instance, people, clock):
    """P-01 (OR) released in March, IR-01 (FN) in April with a rejection and a voided signature,
    a confirmation in May."""
    release(instance, people, "P-01")
    clock.set_day(date(2026, 4, 1))
    wf = instance.workflow
    change = wf.create(
        people["author"],
        doc_id="IR-01",
        markdown="# Instrukcja\n\nTekst.\n",
        reason="Nowa instrukcja",
        title="Instrukcja kasowa",
        doc_type="instruction",
        unit="FN",
    )
    wf.submit(people["author"], change.number)
    wf.reject(people["approver_fn"], change.number, password=PASSWORD, comment="Brak podstawy prawnej")
    change = wf.edit(
        people["author"], change.number, markdown="# Instrukcja\n\nTekst. Podstawa.\n", expected_head=wf.get(2).head
    )
    wf.submit(people["author"], change.number)
    wf.approve(people["approver_fn"], change.number, password=PASSWORD)
    clock.set_day(date(2026, 5, 4))
    instance.acks.record("reader", "P-01", 1)
    return instance


def events(instance, **filters):
    return [
        (e.action, e.document_id, e.login) for e in instance_reader(instance).audit_events(TrailQuery(**filters))[0]
    ]


def instance_reader(instance):
    from docctl.reading import Reader

    return Reader(instance)


def test_every_step_is_in_the_trail_newest_first(history):
    got = events(history)
    assert got[0] == ("confirmed_read", "P-01", "reader")
    actions = [a for a, _, _ in got]
    for action in ("created", "submitted", "signed", "released", "rejected", "edited", "initialized"):
        assert action in actions, action
    ir = [a for a, d, _ in got if d == "IR-01"]
    assert ir == ["released", "signed", "submitted", "edited", "rejected", "submitted", "created"]
    times = [e.at for e in instance_reader(history).audit_events(TrailQuery())[0]]
    assert times == sorted(times, reverse=True)


def test_the_trail_filters_by_period_document_unit_and_person(history):
    april = events(history, since=date(2026, 4, 1), until=date(2026, 4, 30))
    assert {d for _, d, _ in april} == {"IR-01", ""}  # "": approver_fn's signing key listed (issue 29)
    assert {a for a, d, _ in april if not d} == {"signing_keys_changed"}
    assert {d for _, d, _ in events(history, document="P-01")} == {"P-01"}
    assert ("confirmed_read", "P-01", "reader") in events(history, document="P-01")
    assert {d for _, d, _ in events(history, unit="FN")} == {"IR-01"}
    assert events(history, unit="FN") and ("confirmed_read", "P-01", "reader") not in events(history, unit="FN")
    by_fn = events(history, actor="approver_fn")
    # the last signature released it; the first listed the signer's key (issue 29)
    assert {a for a, _, _ in by_fn} == {"rejected", "signed", "released", "signing_keys_changed"}
    assert events(history, actor="Approver Fn") == by_fn  # by name too
    assert events(history, actor="reader") == [("confirmed_read", "P-01", "reader")]


def test_a_rejection_voids_signatures_and_says_so(instance, people):
    wf = instance.workflow
    change = wf.create(
        people["author"], doc_id="P-02", markdown=DOC, reason="Nowa", title="T", doc_type="procedure", unit="OR"
    )
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password=PASSWORD)
    wf.reject(people["qm"], change.number, password=PASSWORD, comment="Nie teraz")
    got = events(instance, document="P-02")
    assert got[:3] == [("rejected", "P-02", "qm"), ("voided", "P-02", "qm"), ("signed", "P-02", "approver")]


def wipe_trail(instance):
    with instance.catalog._connect() as conn:
        conn.execute("DELETE FROM trail")
        conn.execute("DELETE FROM trail_meta")


def test_the_trail_is_rebuilt_from_git_alone(history):
    before = events(history)
    wipe_trail(history)
    history.catalog.rebuild()
    history.workflow.rebuild_change_trail()
    assert events(history) == before
    wipe_trail(history)  # an instance from before the trail: start-up fills it (main from the catalog)
    history.start()
    assert [(a, d) for a, d, _ in events(history)] == [(a, d) for a, d, _ in before]


def test_reindex_writes_mains_trail_after_search_answers_the_same_rows(history):
    """reindex holds the trail's rows for main back until search answers again (issue 12);
    meanwhile the trail says it is not built, and then it holds exactly what it held."""
    with history.catalog._connect() as conn:
        before = conn.execute("SELECT * FROM trail WHERE source='main' ORDER BY commit_sha, action").fetchall()
    history.catalog.rebuild(trail=False)
    assert not history.catalog.trail.main_built()
    assert history.catalog.write_trail_later() == len(history.catalog.all_records())
    assert history.catalog.trail.main_built()
    with history.catalog._connect() as conn:
        after = conn.execute("SELECT * FROM trail WHERE source='main' ORDER BY commit_sha, action").fetchall()
    assert [tuple(r) for r in after] == [tuple(r) for r in before] and before
    assert history.catalog.write_trail_later() == 0  # written once


def test_a_release_while_reindex_holds_the_trail_back_keeps_its_rows(history, people):
    """The old rows of main go with the new ones (deleting 400,000 rows took 16 s of reindex's
    critical path at 20,000 x 10); a release that lands in between keeps its own."""
    history.catalog.rebuild(trail=False)
    release(history, people, "P-02", "Drugi.\n", reason="W trakcie")
    history.catalog.write_trail_later()
    with history.catalog._connect() as conn:
        rows = conn.execute("SELECT doc_id, action FROM trail WHERE source='main' AND action='released'").fetchall()
    assert sorted(tuple(r) for r in rows) == [("IR-01", "released"), ("P-01", "released"), ("P-02", "released")]


def test_the_trail_pages(instance, people):
    for n in range(PAGE_SIZE // 4 + 2):  # each release: create, submit, 2 signatures, release (+2 on main)
        release(instance, people, f"P-{n + 1:02d}")
    reader = instance_reader(instance)
    first, more = reader.audit_events(TrailQuery())
    second, _ = reader.audit_events(TrailQuery(page=2))
    assert len(first) == PAGE_SIZE and more
    assert second and first[-1].at >= second[0].at
    assert not {(e.commit, e.action) for e in first} & {(e.commit, e.action) for e in second}


def test_the_trail_page_api_and_csv_are_for_auditors_only(history, client, auth):
    for login in ("reader", "author"):
        auth.login(login)
        assert client.get("/audit").status_code == 403
        assert client.get("/audit/events.csv").status_code == 403
        assert client.get("/api/v1/audit/events").status_code == 403
        assert client.get("/api/v1/audit/verify").status_code == 403
        client.get("/logout")
    for login in ("auditor", "qm", "admin"):
        auth.login(login)
        page = client.get("/audit?unit=FN")
        assert page.status_code == 200, login
        assert "Brak podstawy prawnej" in page.get_data(as_text=True)
        client.get("/logout")


def test_the_trail_api_answers_the_contract(history, client, auth):
    auth.login("auditor")
    body = client.get("/api/v1/audit/events?document=IR-01").get_json()
    first = body["events"][0]
    assert set(first) >= {"at", "action", "document_id", "revision", "change", "actor", "commit", "detail"}
    assert first["action"] == "released" and first["revision"] == 1 and len(first["commit"]) == 40
    assert "next_page" not in body
    assert client.get("/api/v1/audit/events?since=2026-13-01").status_code == 422
    assert client.get("/api/v1/audit/events?document=../etc").status_code == 422
    verify = client.get("/api/v1/audit/verify").get_json()
    assert verify["ok"] is True and verify["problems"] == [] and verify["checked"]["releases"] == 2


def test_the_trail_exports_csv(history, client, auth):
    auth.login("auditor")
    response = client.get("/audit/events.csv?unit=FN")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["action"] for r in rows][:2] == ["released", "signed"]
    assert {r["document_id"] for r in rows} == {"IR-01"}


def test_verification_shows_on_the_audit_page(history, client, auth):
    auth.login("auditor")
    page = client.get("/audit").get_data(as_text=True)
    assert "Verify the whole history now" in page
    page = client.get("/audit?verify=1").get_data(as_text=True)
    assert "The history holds" in page


def test_the_auditors_pages_run_no_git(history, client, auth, monkeypatch):
    """Trail, register as of a date and confirmation reports come from derived data: no git
    process per request, whatever the length of history (issue 18)."""
    import subprocess

    from docctl.stores.git import GitStore

    auth.login("auditor")
    paths = [
        "/audit?unit=FN",
        "/api/v1/audit/events?document=IR-01",
        "/audit/events.csv?since=2026-04-01",
        "/api/v1/documents?as_of=2026-04-15",
        "/documents?as_of=2026-04-15",
        "/api/v1/documents/P-01/acknowledgements",
        "/acknowledgements?unit=OR",
    ]
    for path in paths:
        client.get(path)  # warm: the catalog catches up, the policy is read

    def no_git(self, *args, **kwargs):
        raise AssertionError(f"git {args[:2]} called")

    monkeypatch.setattr(GitStore, "_run", no_git)
    monkeypatch.setattr(subprocess, "Popen", no_git)
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        response.get_data()  # streamed CSV: consume it under the patch too
