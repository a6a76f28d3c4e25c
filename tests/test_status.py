"""Issue 17: each revision shows exactly one state, in badge, banner and API alike, decided in one
place (``DocumentState.status_of``); results and links land on the page of the revision in force."""

from __future__ import annotations

import re
from datetime import date

import pytest
from conftest import DOC, START, FakeClock, copy_of, make_instance, release

BANNERS = {"superseded": "SUPERSEDED", "approved": "NOT YET IN FORCE", "obsolete": "OBSOLETE."}
BADGES = {
    "effective": "in force",
    "superseded": "SUPERSEDED",
    "approved": "approved, not yet in force",
    "obsolete": "OBSOLETE",
}


@pytest.fixture(scope="module")
def _history_template(tmp_path_factory):
    """P-01: r1 superseded, r2 in force, r3 approved for later. P-02: withdrawn. P-03: new, not yet
    in force. Built once per module (six releases through the workflow take ~4 s); each test
    gets its own copy of the folder."""
    root = tmp_path_factory.mktemp("status") / "instance"
    instance = make_instance(root, FakeClock(START))
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    release(instance, people, text=DOC + "\nDrugie wydanie.\n", reason="Drugie")
    release(instance, people, text=DOC + "\nTrzecie.\n", reason="Trzecie", effective_date=date(2026, 6, 1))
    release(instance, people, doc_id="P-02", title="Zapisy", text="# Zapisy\n\nTekst.\n")
    release(
        instance, people, doc_id="P-03", title="Nowa", text="# Nowa\n\nP-02 i P-01.\n", effective_date=date(2026, 5, 1)
    )
    change = instance.workflow.withdraw(people["author"], "P-02", reason="Zastąpiona")
    instance.workflow.submit(people["author"], change.number) if change.state == "draft" else None
    for signer in ("approver", "qm"):
        instance.workflow.approve(people[signer], change.number, password="correct-horse-battery")
    return root


@pytest.fixture
def instance(_history_template, tmp_path, clock):
    """This module's instance is a copy of the history above (overrides conftest's empty one)."""
    return copy_of(_history_template, tmp_path, clock)


@pytest.fixture
def history(instance):
    return instance


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/documents/P-01", "effective"),
        ("/documents/P-01/revisions/1", "superseded"),
        ("/documents/P-01/revisions/3", "approved"),
        ("/documents/P-02", "obsolete"),
        ("/documents/P-02/revisions/1", "obsolete"),
        ("/documents/P-03", "approved"),
        ("/documents/P-03/revisions/1", "approved"),
    ],
)
def test_one_state_in_badge_banner_and_api(client, auth, history, path, status):
    auth.login("reader")
    html = client.get(path).get_data(as_text=True)
    main = html.split("<main", 1)[1]
    badges = re.findall(r'<span class="badge badge-(\w+)">([^<]*)</span>', main.split("</h1>", 1)[0])
    assert badges == [(status, BADGES[status])]
    banners = re.findall(r'class="banner banner-(\w+)"', main)
    assert banners == ([] if status == "effective" else [status])
    for other, text in BANNERS.items():
        assert (text in main) == (other == status), (other, path)
    api = client.get("/api/v1" + path).get_json()
    assert api["status"] == status


def test_the_revision_in_force_has_one_address(client, auth, history):
    auth.login("reader")
    response = client.get("/documents/P-01/revisions/2")
    assert response.status_code == 302 and response.headers["Location"].endswith("/documents/P-01")
    assert client.get("/api/v1/documents/P-01/revisions/2").get_json()["current"] is True


def test_search_results_land_on_the_document_page_for_the_revision_in_force(client, auth, history):
    auth.login("reader")
    html = client.get("/search?q=udokumentowanymi&scope=all").get_data(as_text=True)
    results = html.split('<ol class="results">', 1)[1].split("</ol>", 1)[0]
    hrefs = re.findall(r'<li><a href="([^"]+)"', results)
    assert "/documents/P-01" in hrefs  # revision 2 (in force)
    assert "/documents/P-01/revisions/2" not in hrefs
    assert {"/documents/P-01/revisions/1", "/documents/P-01/revisions/3"} <= set(hrefs)
    assert results.count("not the revision in force") == 2


def test_links_to_withdrawn_documents_are_marked(client, auth, history, clock):
    clock.set_day(date(2026, 5, 2))
    auth.login("reader")
    html = client.get("/documents/P-03").get_data(as_text=True)
    assert 'class="doc-link doc-link-obsolete"' in html and "(withdrawn)" in html
    assert 'href="/documents/P-01" class="doc-link"' in html or 'class="doc-link" href="/documents/P-01"' in html


def test_overdue_review_shows_on_the_document_header(client, auth, history, clock):
    clock.set_day(date(2027, 7, 1))  # P-01 r3 in force since 2026-06-01, review every 12 months
    auth.login("reader")
    html = client.get("/documents/P-01").get_data(as_text=True)
    assert "periodic review overdue" in html
    clock.set_day(date(2026, 7, 1))
    assert "periodic review overdue" not in client.get("/documents/P-01").get_data(as_text=True)


def test_the_cached_register_follows_releases_and_days(client, auth, history, people, clock):
    auth.login("reader")
    assert "P-04" not in client.get("/documents").get_data(as_text=True)
    release(history, people, doc_id="P-04", title="Czwarta", text="# Czwarta\n\nTekst.\n")
    assert "P-04" in client.get("/documents").get_data(as_text=True)
    clock.set_day(date(2026, 6, 2))  # P-01 r3 comes into force: the same head, another day
    auth.login("reader")  # months later: that session has long expired
    row = client.get("/documents").get_data(as_text=True).split('href="/documents/P-01"')[1].split("</tr>")[0]
    assert "<td>3</td>" in row
