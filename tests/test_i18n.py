"""Issue 16, items 1 and 2: the interface in Polish (the default) and English, the paper
conventions of a Polish office in the control header and the printout, a language switch per
person, and a catalog that leaves no string untranslated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import Auth, release

from docctl.web import build_app

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "docctl" / "translations" / "pl" / "LC_MESSAGES" / "messages.po"
# The core's errors: their constant messages are shown translated on pages.
ERRORS = ("Invalid", "Conflict", "NotFound", "Forbidden", "Unauthorized", "TooLarge", "Malformed", "Unavailable")
ERRORS += ("MergeConflict", "Throttled")
METHODS = [("docctl/**.py", "python"), ("templates/**.html", "jinja2")]


def _extracted() -> set[str]:
    found = set()
    keywords = {"_": None, "N_": None, **dict.fromkeys(ERRORS)}
    for _, _, message, _, _ in extract_from_dir(str(ROOT), METHODS, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_interface_string_has_a_polish_translation():
    with PO.open("rb") as source:
        catalog = read_po(source)
    untranslated = sorted(m for m in _extracted() if not (catalog.get(m) and catalog.get(m).string))
    assert not untranslated, f"no Polish for {len(untranslated)} string(s), e.g. {untranslated[:5]}"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy


def test_placeholders_survive_translation():
    with PO.open("rb") as source:
        catalog = read_po(source)
    for message in catalog:
        if message.id:
            names = re.compile(r"%\(\w+\)s")
            assert set(names.findall(message.id)) == set(names.findall(message.string)), message.id


@pytest.fixture
def polish(instance, people):
    instance.settings["LANGUAGE"] = "pl"
    release(instance, people)
    client = build_app(instance, {"TESTING": True}).test_client()
    return client, Auth(client)


def test_polish_is_the_default_with_the_paper_conventions(polish):
    client, auth = polish
    auth.login("reader")
    page = client.get("/documents/P-01").get_data(as_text=True)
    assert '<html lang="pl">' in page
    for label in ("Opracował", "Sprawdził", "Zatwierdził", "Obowiązuje od", "Wydanie", "Karta zmian"):
        assert label in page, label
    assert "2 marca 2026" in page  # the effective date as people write it
    assert "Prepared by" not in page and "Log out" not in page


def test_the_printout_carries_the_polish_notice(polish):
    client, auth = polish
    auth.login("reader")
    page = client.get("/documents/P-01/print").get_data(as_text=True)
    assert "kopia nienadzorowana; przed użyciem sprawdź aktualność w systemie" in page
    assert re.search(r"Wydruk z dnia \d{4}-\d{2}-\d{2}", page)


def test_a_person_switches_language_and_it_is_remembered(polish, instance):
    client, auth = polish
    auth.login("reader")
    csrf = auth.csrf("/")
    answer = client.post("/language", data={"language": "en", "next": "/documents/P-01", "csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["Location"] == "/documents/P-01"
    assert instance.users.get("reader").language == "en"
    assert "Prepared by" in client.get("/documents/P-01").get_data(as_text=True)
    # another browser, same person: still English after logging in
    other = build_app(instance, {"TESTING": True}).test_client()
    Auth(other).login("reader")
    assert '<html lang="en">' in other.get("/").get_data(as_text=True)


def test_before_login_the_switch_is_kept_in_the_browser(polish):
    client, auth = polish
    csrf = auth.csrf("/login")
    client.post("/language", data={"language": "en", "next": "//evil.example/", "csrf_token": csrf})
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and "Log in" in page


def test_flash_messages_are_translated(polish):
    client, auth = polish
    auth.login("reader")
    csrf = auth.csrf("/documents/P-01")
    client.post("/documents/P-01/acknowledge", data={"csrf_token": csrf})
    assert "Zapisano: zapoznałeś(-aś) się z P-01, wydanie 1." in client.get("/").get_data(as_text=True)


def test_api_errors_stay_english(polish, instance):
    client, _ = polish
    token = instance.users.create_token("reader")
    answer = client.get("/api/v1/documents/P-99", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 404 and "P-99" in answer.get_json()["error"]["message"]


def test_the_cores_messages_read_in_polish_on_pages(polish, instance, people):
    client, auth = polish
    auth.login("approver")
    change = instance.workflow.create(people["author"], doc_id="P-01", markdown="# N\n\nNowy.\n", reason="Zmiana")
    instance.workflow.submit(people["author"], change.number)
    csrf = auth.csrf(f"/changes/{change.number}")
    answer = client.post(f"/changes/{change.number}/reject", data={"password": "x", "comment": " ", "csrf_token": csrf})
    assert "napisz, dlaczego zmiana jest odrzucana (komentarz jest wymagany)" in answer.get_data(as_text=True)


def test_a_message_with_values_is_translated_then_filled(polish):
    client, auth = polish
    auth.login("reader")
    page = client.get("/documents/P-99").get_data(as_text=True)
    assert "dokument P-99 nie istnieje" in page
