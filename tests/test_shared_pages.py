"""Pages rendered once and shared by readers with the same rights, each reader's own values
(name, roles, CSRF token, the address to come back to) filled in per request (issue 12)."""

from __future__ import annotations

import re

import flask.templating
import pytest
from conftest import DOC, PASSWORD, START, Auth, FakeClock, copy_of, make_instance, release

from docctl.web import build_app


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared") / "instance"
    instance = make_instance(root, FakeClock(START))
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)
    instance.users.update("author2", name='Ala "Kot" & O\'Brien')
    return root


@pytest.fixture
def instance(_template, tmp_path, clock):
    return copy_of(_template, tmp_path, clock)


@pytest.fixture
def app(instance):
    return build_app(instance, {"TESTING": True})


def reader_client(app, login: str) -> Auth:
    auth = Auth(app.test_client())
    assert auth.login(login, PASSWORD).status_code == 302
    return auth


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def renders(monkeypatch):
    """How many templates Flask renders (fragments and pages alike)."""
    count = [0]
    original = flask.templating._render

    def counting(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(flask.templating, "_render", counting)
    return count


def test_two_readers_share_one_rendering_and_get_their_own_name_and_token(app, renders):
    author, colleague = reader_client(app, "author"), reader_client(app, "author2")
    first = author.client.get("/documents/P-01").get_data(as_text=True)
    renders[0] = 0
    second = colleague.client.get("/documents/P-01").get_data(as_text=True)
    assert renders[0] == 0, "the same page for the same rights is not rendered again"
    assert ">Author</span>" in first and ">Ala &#34;Kot&#34; &amp; O&#39;Brien</span>" in second  # escaped as text
    assert 'title="author"' in second
    assert csrf_of(first) != csrf_of(second)
    # each token works for its own session only
    assert colleague.client.post("/documents/P-01/acknowledge", data={"csrf_token": csrf_of(first)}).status_code == 400
    confirmed = colleague.client.post("/documents/P-01/acknowledge", data={"csrf_token": csrf_of(second)})
    assert confirmed.status_code == 302
    page = colleague.client.get("/documents/P-01").get_data(as_text=True)
    assert 'class="flash' in page and "you have read P-01 revision 1" in page  # the flash, once
    again = colleague.client.get("/documents/P-01").get_data(as_text=True)
    assert 'class="flash' not in again and "You confirmed reading revision 1." in again


def test_what_differs_between_readers_is_never_shared(app, instance):
    """Rights, confirmation, language and the address to return to each give their own page."""
    qm, author = reader_client(app, "qm"), reader_client(app, "author")
    as_qm = qm.client.get("/documents/P-01").get_data(as_text=True)
    as_author = author.client.get("/documents/P-01").get_data(as_text=True)
    assert "/documents/P-01/acknowledgements" in as_qm and "/documents/P-01/acknowledgements" not in as_author
    assert "/audit" in as_qm and "/audit" not in as_author
    dated = qm.client.get("/documents/P-01?as_of=2026-01-06").get_data(as_text=True)
    assert re.search(r'name="next" value="([^"]+)"', dated).group(1) == "/documents/P-01?as_of=2026-01-06"
    assert author.post("/language", {"language": "pl", "next": "/documents/P-01"}).status_code in (302, 303)
    polish = author.client.get("/documents/P-01").get_data(as_text=True)
    assert '<html lang="pl">' in polish and '<html lang="en">' in as_qm


def test_a_release_changes_the_shared_page(app, instance):
    author = reader_client(app, "author")
    assert "revision 2" not in author.client.get("/documents/P-01/history").get_data(as_text=True).lower()
    people = {p.login: p for p in instance.users.list()}
    release(instance, people, text=DOC + "\nNowy punkt.\n", reason="Nowy punkt")
    assert "Nowy punkt" in author.client.get("/documents/P-01").get_data(as_text=True)
    assert "Nowy punkt" in author.client.get("/documents/P-01/history").get_data(as_text=True)


def test_my_tasks_are_shared_only_while_the_tasks_are_the_same(app, instance, renders):
    author, colleague = reader_client(app, "author"), reader_client(app, "author2")
    mine = author.client.get("/").get_data(as_text=True)
    renders[0] = 0
    theirs = colleague.client.get("/").get_data(as_text=True)
    assert renders[0] == 0
    assert "P-01 — Nadzór nad dokumentami" in mine and "P-01 — Nadzór nad dokumentami" in theirs
    page = colleague.client.get("/documents/P-01").get_data(as_text=True)
    colleague.client.post("/documents/P-01/acknowledge", data={"csrf_token": csrf_of(page)})
    assert "P-01 — Nadzór nad dokumentami" not in colleague.client.get("/").get_data(as_text=True)
    assert "P-01 — Nadzór nad dokumentami" in author.client.get("/").get_data(as_text=True)
    people = {p.login: p for p in instance.users.list()}
    draft = instance.workflow.create(people["author"], doc_id="P-01", markdown=DOC + "\nPoprawka.\n", reason="Poprawka")
    assert f"/changes/{draft.number}" in author.client.get("/").get_data(as_text=True)
    assert f"/changes/{draft.number}" not in colleague.client.get("/").get_data(as_text=True)


def test_a_redline_is_computed_once_per_pair_of_revisions(app, instance, monkeypatch):
    import docctl.reading

    people = {p.login: p for p in instance.users.list()}
    release(instance, people, text=DOC + "\nNowy punkt.\n", reason="Nowy punkt")
    made = []
    original = docctl.reading.redline_html
    monkeypatch.setattr(docctl.reading, "redline_html", lambda *a: made.append(a) or original(*a))
    author = reader_client(app, "author")
    first = author.client.get("/documents/P-01/diff?from=1&to=2").get_data(as_text=True)
    again = reader_client(app, "qm").client.get("/api/v1/documents/P-01/diff?from=1&to=2")
    assert "Nowy punkt" in first and "Nowy punkt" in again.get_json()["html"]
    assert len(made) == 1


@pytest.mark.parametrize("path", ["/documents/P-01", "/documents", "/documents/P-01/history", "/"])
def test_a_browser_that_takes_gzip_gets_the_same_page_compressed(app, path):
    import gzip

    author = reader_client(app, "author")
    plain = author.client.get(path)
    packed = author.client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert plain.headers.get("Content-Encoding") is None and "Accept-Encoding" in plain.headers["Vary"]
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    text = gzip.decompress(packed.data)  # checks the stitched stream's CRC and length too
    assert text == plain.data and len(packed.data) < len(plain.data)
    # the reader's own values are inside, stored as they are (never compressed with the page)
    assert csrf_of(plain.get_data(as_text=True)).encode() in packed.data
    refused = author.client.get(path, headers={"Accept-Encoding": "br, gzip;q=0"})
    assert refused.headers.get("Content-Encoding") is None and refused.data == plain.data


def test_the_same_search_answer_gives_the_same_page_rendered_once(app, instance, renders):
    """A search page is kept with the index's answer: asked again, no template is rendered;
    once the index changes (a release), the page says what the index says now."""
    author = reader_client(app, "author")
    first = author.client.get("/search?q=nadzoru").get_data(as_text=True)
    assert "P-01" in first and 'value="nadzoru"' in first
    renders[0] = 0
    again = author.client.get("/search?q=nadzoru").get_data(as_text=True)
    assert renders[0] == 0 and again == first
    other = author.client.get("/search?q=nadzoru&type=form").get_data(as_text=True)
    assert renders[0] > 0 and "P-01 —" not in other  # other filters: another answer, another page
    people = {p.login: p for p in instance.users.list()}
    release(instance, people, doc_id="P-02", text=DOC + "\nNadzór nad zapisami.\n", title="Zapisy", reason="Nowa")
    after = author.client.get("/search?q=nadzoru").get_data(as_text=True)
    assert "P-02 — Zapisy" in after and "P-02 —" not in first


def test_the_reviews_due_are_rendered_once_for_everyone(app, renders):
    author, colleague = reader_client(app, "author"), reader_client(app, "author2")
    first = author.client.get("/reviews")
    assert first.status_code == 200
    renders[0] = 0
    second = colleague.client.get("/reviews")
    assert second.status_code == 200 and renders[0] == 0
    assert ">Author</span>" in first.get_data(as_text=True) and "O&#39;Brien" in second.get_data(as_text=True)
