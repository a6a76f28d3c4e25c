"""Pages and JSON API through the Flask test client, logged in through the real form."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import DOC, PASSWORD, START, FakeClock, copy_of, make_instance, release


@pytest.fixture(scope="module")
def _released_template(tmp_path_factory):
    """P-01 released twice, P-02 once: built once per module (~2.7 s through the workflow), copied
    for each test."""
    root = tmp_path_factory.mktemp("web") / "instance"
    instance = make_instance(root, FakeClock(START))
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    release(
        instance,
        people,
        text=DOC.replace("wszystkich komórek", "wszystkich wydziałów i biur"),
        reason="Doprecyzowano zakres",
    )
    release(instance, people, doc_id="P-02", title="Nadzór nad zapisami", text="# Zapisy\n\nZobacz P-01.\n")
    return root


@pytest.fixture
def instance(_released_template, tmp_path, clock):
    """This module's instance is a copy of the history above (overrides conftest's empty one)."""
    return copy_of(_released_template, tmp_path, clock)


@pytest.fixture
def released(instance):
    return instance


def token(instance, login="author"):
    return {"Authorization": f"Bearer {instance.users.create_token(login)}"}


# -- logging in ---------------------------------------------------------------------------------
def test_reading_needs_login_by_default(client, released):
    assert client.get("/documents").status_code == 401 or client.get("/documents").status_code == 302
    assert client.get("/documents/P-01").headers["Location"].startswith("/login")
    assert client.get("/api/v1/documents").status_code == 401
    assert client.get("/api/v1/documents").get_json()["error"]["code"] == "unauthorized"


def test_public_read_setting_opens_reading_only(instance, released):
    from docctl.web import build_app

    client = build_app(instance, {"TESTING": True, "PUBLIC_READ": True}).test_client()
    instance.settings["PUBLIC_READ"] = True
    assert client.get("/documents/P-01").status_code == 200
    assert client.get("/api/v1/documents").status_code == 200
    assert client.get("/changes").status_code in (302, 401)
    assert client.post("/api/v1/changes", json={}).status_code in (400, 401)


def test_login_logout(client, auth, released):
    assert auth.login("reader", "wrong-password").status_code == 401
    response = auth.login("reader")
    assert response.status_code == 302
    assert client.get("/documents").status_code == 200
    assert auth.post("/logout").status_code == 302
    assert client.get("/documents").status_code == 302


def test_login_without_csrf_token_is_refused(client, released):
    response = client.post("/login", data={"login": "reader", "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_form_post_without_csrf_is_refused(client, auth, released):
    auth.login("reader")
    assert client.post("/documents/P-01/acknowledge").status_code == 400
    assert auth.post("/documents/P-01/acknowledge").status_code == 302


def test_next_redirect_is_kept_on_site(client, auth, released):
    csrf = auth.csrf()
    for target, expected in (
        ("/documents/P-01", "/documents/P-01"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
    ):
        client.get("/logout")
        response = client.post(
            f"/login?next={target}", data={"login": "reader", "password": PASSWORD, "csrf_token": csrf}
        )
        assert response.headers["Location"] == expected
        auth.post("/logout")
        csrf = auth.csrf()


# -- read views ---------------------------------------------------------------------------------
def test_master_list_and_filters(client, auth, released):
    auth.login("reader")
    page = client.get("/documents").get_data(as_text=True)
    assert "P-01" in page and "P-02" in page
    assert "P-02" not in client.get("/documents?unit=FN").get_data(as_text=True).split("<tbody>")[-1]
    assert client.get("/documents?type=memo").status_code == 422


def test_the_register_is_read_a_page_at_a_time_with_the_count(client, auth, released, monkeypatch):
    """Issue 33: at 20,000 documents the register is paged (here 1 a page) and says how many match;
    the filters travel with the page links; the API pages the same way with total and next_page."""
    import docctl.reading

    monkeypatch.setattr(docctl.reading, "REGISTER_PAGE", 1)
    auth.login("reader")
    first = client.get("/documents?type=procedure").get_data(as_text=True)
    rows = first.split("<tbody>")[-1].split("</tbody>")[0]
    assert rows.count("<tr") == 1 and "P-01" in rows
    assert "Documents 1–1 of 2." in first and "page 1 of 2" in first
    assert 'href="/documents?page=2&amp;type=procedure" rel="next"' in first
    second = client.get("/documents?type=procedure&page=2").get_data(as_text=True)
    assert "P-02" in second.split("<tbody>")[-1] and 'rel="prev"' in second and 'rel="next"' not in second
    beyond = client.get("/documents?type=procedure&page=9").get_data(as_text=True)
    assert "P-02" in beyond.split("<tbody>")[-1]  # past the end: the last page
    headers = token(released, "reader")
    api = client.get("/api/v1/documents?page=1", headers=headers).get_json()
    assert [d["id"] for d in api["documents"]] == ["P-01"] and api["total"] == 2 and api["next_page"] == 2
    last = client.get("/api/v1/documents?page=2", headers=headers).get_json()
    assert [d["id"] for d in last["documents"]] == ["P-02"] and "next_page" not in last
    assert len(client.get("/api/v1/documents", headers=headers).get_json()["documents"]) == 2  # the contract's list
    instance = released
    instance.clock.set_day(date(2027, 2, 20))  # both due for their periodic review: the same pages
    auth.login("reader")  # (the session idled out meanwhile)
    reviews = client.get("/reviews?unit=OR").get_data(as_text=True)
    assert "Documents 1–1 of 2." in reviews and 'href="/reviews?page=2&amp;unit=OR" rel="next"' in reviews


def test_the_whole_register_is_streamed_when_large(client, auth, released, monkeypatch):
    import docctl.web.api

    monkeypatch.setattr(docctl.web.api, "STREAMED_ABOVE_ROWS", 1)
    headers = token(released, "reader")
    answer = client.get("/api/v1/documents", headers=headers)
    assert answer.is_streamed
    assert [d["id"] for d in answer.get_json()["documents"]] == ["P-01", "P-02"]


def test_current_document_page_has_the_controlled_header(client, auth, released):
    auth.login("reader")
    page = client.get("/documents/P-01").get_data(as_text=True)
    assert "wszystkich wydziałów i biur" in page
    for label in (
        "Revision",
        "Effective from",
        "Owning unit",
        "Prepared by",
        "Reviewed by",
        "Approved by",
        "Next review due",
    ):
        assert label in page
    assert "Approver (" in page and "Qm (" in page and "SUPERSEDED" not in page
    assert 'href="/documents/P-02"' in page  # "zgodnie z P-02" became a link


def test_past_revision_says_loudly_it_is_superseded(client, auth, released):
    auth.login("reader")
    page = client.get("/documents/P-01/revisions/1").get_data(as_text=True)
    assert "SUPERSEDED" in page and "See current revision 2" in page
    assert "SUPERSEDED" not in client.get("/documents/P-01/revisions/2").get_data(as_text=True)


def test_history_diff_and_print(client, auth, released):
    auth.login("reader")
    history = client.get("/documents/P-01/history").get_data(as_text=True)
    assert "Doprecyzowano zakres" in history and "Wydanie pierwsze" in history
    diff = client.get("/documents/P-01/diff?from=1&to=2").get_data(as_text=True)
    assert "<ins" in diff and "<del" in diff and "wydziałów" in diff
    printed = client.get("/documents/P-01/print").get_data(as_text=True)
    assert "Printed on 2026-03-02 09:00 — uncontrolled copy; check the current revision" in printed


@pytest.mark.parametrize(
    "path,status",
    [
        ("/documents/p-01", 422),
        ("/documents/P-99", 404),
        ("/documents/..%2Fetc", 404),
        ("/documents/P-01/revisions/9", 404),
        ("/documents/P-01/revisions/x", 422),
        ("/documents/--upload-pack=x", 422),
        ("/documents/P-01/diff?from=1&to=x", 422),
        ("/changes/abc", 422),
        ("/changes/999", 404),
    ],
)
def test_bad_identifiers_get_clear_errors(client, auth, released, path, status):
    auth.login("reader")
    assert client.get(path).status_code == status


def test_acknowledge_current_revision(client, auth, released):
    auth.login("reader")
    assert "I have read and understood revision 2" in client.get("/documents/P-01").get_data(as_text=True)
    auth.post("/documents/P-01/acknowledge")
    assert "You confirmed reading revision 2" in client.get("/documents/P-01").get_data(as_text=True)
    assert released.acks.has("reader", "P-01", 2)


# -- change pages -------------------------------------------------------------------------------
def test_author_drafts_submits_and_managers_sign_through_pages(client, auth, released, instance):
    auth.login("author")
    response = auth.post(
        "/changes/new",
        {
            "document_id": "P-01",
            "title": "Nadzór",
            "type": "procedure",
            "unit": "OR",
            "reason": "Nowy punkt",
            "markdown": DOC + "\n## 4. Nowe\nTekst.\n",
            "review_months": "12",
            "effective_date": "",
        },
        token_from="/changes/new",
    )
    assert response.status_code == 302
    number = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/changes/{number}").get_data(as_text=True)
    assert "Nowy punkt" in page and "<ins" in page
    auth.post(f"/changes/{number}/submit")
    assert instance.workflow.get(number).state == "in_review"
    auth.post("/logout")
    auth.login("approver")
    assert f"Change {number}" in client.get("/").get_data(as_text=True)  # on "my tasks"
    auth.post(f"/changes/{number}/approve", {"password": "wrong-password-x"})
    assert not instance.workflow.get(number).signatures
    auth.post(f"/changes/{number}/approve", {"password": PASSWORD})
    auth.post("/logout")
    auth.login("qm")
    auth.post(f"/changes/{number}/approve", {"password": PASSWORD})
    assert instance.workflow.get(number).state == "released"
    assert "4. Nowe" in client.get("/documents/P-01").get_data(as_text=True)


def test_editor_preview_and_stale_save(client, auth, released, instance, people):
    change = instance.workflow.create(people["author"], doc_id="P-02", markdown="# Zapisy\n\nA.", reason="r")
    auth.login("author")
    preview = auth.post(
        f"/changes/{change.number}/edit",
        {
            "action": "preview",
            "markdown": "# Podgląd\n\n**b**",
            "title": "Nadzór nad zapisami",
            "reason": "r",
            "head": change.head,
        },
    )
    assert "<strong>b</strong>" in preview.get_data(as_text=True)
    instance.workflow.edit(people["author2"], change.number, markdown="# Zapisy\n\nB.", expected_head=change.head)
    stale = auth.post(
        f"/changes/{change.number}/edit",
        {
            "action": "save",
            "markdown": "# Zapisy\n\nC.",
            "title": "Nadzór nad zapisami",
            "reason": "r",
            "head": change.head,
        },
    )
    assert stale.status_code == 409
    body = stale.get_data(as_text=True)
    assert "B." in body and "C." in body  # both versions are on the page: nothing lost


def test_reader_cannot_open_changes(client, auth, released):
    auth.login("reader")
    assert client.get("/changes/new").status_code == 403


# -- JSON API -----------------------------------------------------------------------------------
def test_api_documents(client, released):
    headers = token(released, "reader")
    docs = client.get("/api/v1/documents", headers=headers).get_json()["documents"]
    assert [d["id"] for d in docs] == ["P-01", "P-02"]
    assert set(docs[0]) >= {"id", "title", "type", "unit", "revision", "effective_date", "status", "review_due"}
    doc = client.get("/api/v1/documents/P-01", headers=headers).get_json()
    assert doc["revision"] == 2 and doc["markdown"].startswith("---") and "<h1" in doc["html"]
    assert [a["meaning"] for a in doc["approvals"]] == ["review", "approval"]
    revs = client.get("/api/v1/documents/P-01/revisions", headers=headers).get_json()["revisions"]
    assert [r["revision"] for r in revs] == [2, 1] and revs[0]["change_reason"] == "Doprecyzowano zakres"
    old = client.get("/api/v1/documents/P-01/revisions/1", headers=headers).get_json()
    assert old["current"] is False and old["status"] == "superseded"
    assert client.get("/api/v1/documents/P-01/revisions/2", headers=headers).get_json()["current"] is True
    diff = client.get("/api/v1/documents/P-01/diff?from=1&to=2", headers=headers).get_json()
    assert diff["from"] == 1 and "+" in diff["unified"] and "<ins" in diff["html"]


def test_api_change_lifecycle(client, released, instance):
    author, approver, qm = token(instance, "author"), token(instance, "approver"), token(instance, "qm")
    created = client.post(
        "/api/v1/changes",
        headers=author,
        json={"document_id": "P-02", "markdown": "# Zapisy\n\nNowa treść.", "reason": "Aktualizacja"},
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["state"] == "draft" and body["base_revision"] == 1 and body["document_id"] == "P-02"
    n, head = body["number"], body["head"]
    stale = client.put(f"/api/v1/changes/{n}", headers=author, json={"markdown": "x", "head": "0" * 40})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "conflict"
    saved = client.put(
        f"/api/v1/changes/{n}", headers=author, json={"markdown": "# Zapisy\n\nPoprawiona.", "head": head}
    )
    assert saved.status_code == 200 and saved.get_json()["head"] != head
    assert client.post(f"/api/v1/changes/{n}/submit", headers=author).get_json()["state"] == "in_review"
    assert client.post(f"/api/v1/changes/{n}/approve", headers=author, json={"password": PASSWORD}).status_code == 403
    assert (
        client.post(f"/api/v1/changes/{n}/approve", headers=approver, json={"password": "bad-password"}).status_code
        == 401
    )
    assert (
        client.post(f"/api/v1/changes/{n}/approve", headers=approver, json={"password": PASSWORD}).get_json()["state"]
        == "in_review"
    )
    done = client.post(f"/api/v1/changes/{n}/approve", headers=qm, json={"password": PASSWORD}).get_json()
    assert done == {"number": n, "state": "released", "revision": 2, "head": done["head"]}
    change = client.get(f"/api/v1/changes/{n}", headers=author).get_json()
    assert set(change) >= {"number", "state", "document_id", "author", "reason", "head", "approvals", "events"}
    assert [e["action"] for e in change["events"]] == ["create", "edit", "submit", "approve", "approve", "release"]
    listed = client.get("/api/v1/changes?state=released", headers=author).get_json()["changes"]
    assert n in [c["number"] for c in listed]


def test_api_gives_a_drafts_text_to_edit_and_put_back(client, released, instance):
    """Issue 32, item 4: a script edits a draft it did not write — markdown (the whole file) and
    html (rendered) from GET, the same file with one line changed PUT back with the head."""
    author, qm = token(instance, "author"), token(instance, "qm")
    body = {"document_id": "P-02", "markdown": "# Zapisy\n\nNowa treść.\n", "reason": "Aktualizacja"}
    n = client.post("/api/v1/changes", headers=author, json=body).get_json()["number"]
    draft = client.get(f"/api/v1/changes/{n}", headers=author).get_json()
    assert draft["markdown"].startswith("---\nid: P-02\n") and "Nowa treść." in draft["markdown"]
    assert "<h1" in draft["html"] and "Nowa treść." in draft["html"] and "id: P-02" not in draft["html"]
    edited = draft["markdown"].replace("Nowa treść.", "Treść poprawiona skryptem.")
    saved = client.put(f"/api/v1/changes/{n}", headers=author, json={"markdown": edited, "head": draft["head"]})
    assert saved.status_code == 200
    again = client.get(f"/api/v1/changes/{n}", headers=qm).get_json()
    assert again["markdown"] == edited and "poprawiona skryptem" in again["html"]


@pytest.mark.parametrize(
    "body,status",
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 400),
        (b'{"document_id": "P-02", "reason": "r"}', 422),
        (b'{"document_id": "../x", "markdown": "a", "reason": "r"}', 422),
        (b'{"document_id": "P-02", "markdown": "a", "reason": ""}', 422),
    ],
)
def test_api_bad_bodies(client, released, body, status):
    response = client.post(
        "/api/v1/changes", headers={**token(released), "Content-Type": "application/json"}, data=body
    )
    assert response.status_code == status
    assert response.get_json()["error"]["code"]


def test_api_too_large(instance, released):
    from docctl.web import build_app

    client = build_app(instance, {"TESTING": True, "MAX_CONTENT_LENGTH": 1000}).test_client()
    response = client.post(
        "/api/v1/changes", headers=token(instance), json={"document_id": "P-02", "markdown": "x" * 5000, "reason": "r"}
    )
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"


def test_api_bad_token(client, released):
    response = client.get("/api/v1/documents", headers={"Authorization": "Bearer dct_nope"})
    assert response.status_code == 401


def test_api_session_post_needs_csrf(client, auth, released):
    auth.login("reader")
    assert client.post("/api/v1/documents/P-01/acknowledge").status_code == 400
    ok = client.post("/api/v1/documents/P-01/acknowledge", headers={"X-CSRFToken": auth.csrf("/documents")})
    assert ok.status_code == 200 and ok.get_json()["revision"] == 2


def test_api_review_and_withdraw(client, released, instance):
    instance.clock.set_day(date(2027, 2, 1))
    answer = client.post(
        "/api/v1/documents/P-01/review",
        headers=token(instance, "approver"),
        json={"password": PASSWORD, "comment": "Bez zmian"},
    )
    assert answer.status_code == 200 and answer.get_json()["review_due"] == "2028-02-01"
    created = client.post(
        "/api/v1/documents/P-02/withdraw", headers=token(instance, "author"), json={"reason": "Niepotrzebny"}
    )
    assert created.status_code == 201 and created.get_json()["state"] == "in_review"


def test_openapi_lists_exactly_the_routes(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule[len("/api/v1") :]
            for name in rule.arguments:
                path = path.replace(f"<{name}>", "{" + name + "}")
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert served == documented


def test_healthz(client, released, instance):
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["main"] == instance.store.head() and data["search_fresh"] is True
    assert data["audit_trail"] == "complete"


def test_reviews_due_per_unit(client, auth, released, instance):
    instance.clock.set_day(date(2027, 2, 20))  # P-01 and P-02 (OR) were released 2026-03-02, 12-month reviews
    auth.login("reader")
    page = client.get("/reviews").get_data(as_text=True)
    assert "P-01" in page and "P-02" in page
    assert "P-01" not in client.get("/reviews?unit=FN").get_data(as_text=True).split("<h1>")[-1].split("</form>")[-1]
    data = client.get("/api/v1/reviews?unit=OR", headers=token(instance)).get_json()["reviews"]
    assert {r["id"] for r in data} == {"P-01", "P-02"} and not any(r["overdue"] for r in data)
    instance.clock.set_day(date(2027, 3, 10))
    data = client.get("/api/v1/reviews", headers=token(instance)).get_json()["reviews"]
    assert all(r["overdue"] for r in data)
