"""Issue 16, item 6: search that forgives like a person.

Both spellings of a word the office uses (audyt / audit, from the policy), the two verbal nouns
of one verb (zatwierdzenie / zatwierdzania), and — when no document holds every word — the
documents holding most of them, marked so instead of an empty page.
"""

from __future__ import annotations

from datetime import date

import pytest

from docctl.core.errors import Invalid
from docctl.core.policy import DEFAULT_VARIANTS, default_policy, parse_policy
from docctl.derived.search import IndexEntry, SearchIndex
from docctl.derived.search.analysis import verbal_noun_partner

TODAY = date(2026, 6, 1)
TEXTS = {
    "P-05": ("Audity wewnętrzne", "Program auditów wewnętrznych ustala pełnomocnik. Auditor sporządza raport."),
    "P-01": ("Nadzór nad dokumentacją", "Tryb zatwierdzania dokumentów i ich wydawania w urzędzie."),
    "Z-01": ("Zarządzenie w sprawie regulaminu", "Zarządzenie burmistrza wprowadza regulamin organizacyjny."),
    "P-03": ("Przegląd zarządzania", "Przegląd systemu zarządzania jakością raz w roku."),
    "P-08": ("Skargi i wnioski", "Rejestr skarg prowadzi sekretariat."),
}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    search = SearchIndex(tmp_path_factory.mktemp("forgiving") / "search")
    entries = [
        IndexEntry(f"{doc}@1", doc, title, body, "procedure", "OR", 1, "released", date(2024, 1, 1), None)
        for doc, (title, body) in TEXTS.items()
    ]
    search.rebuild(entries, commit="test")
    return search


def ranked(index, query, **kw):
    return [h.doc_id for h in index.search(query, at=TODAY, variants=DEFAULT_VARIANTS, **kw).hits]


@pytest.mark.parametrize("query", ["audytów wewnętrznych", "audyt", "audytorzy", "audytor", "audytow wewnetrznych"])
def test_both_spellings_of_audit_find_each_other(index, query):
    assert ranked(index, query)[:1] == ["P-05"]


def test_without_the_policy_variants_the_other_spelling_is_not_found(index):
    assert index.search("audyt", at=TODAY).total == 0


@pytest.mark.parametrize("query", ["zatwierdzenie dokumentów", "zatwierdzania dokumentu", "zatwierdzeniu"])
def test_the_two_verbal_nouns_of_one_verb_find_each_other(index, query):
    assert ranked(index, query)[:1] == ["P-01"]


def test_the_exact_verbal_noun_ranks_first(index):
    """ "zarządzenie" (an ordinance) also finds "zarządzania" (management), but below it."""
    assert ranked(index, "zarządzenie")[0] == "Z-01"
    assert ranked(index, "zarządzania")[0] == "P-03"


def test_no_document_with_every_word_shows_those_with_most_marked_partial(index):
    results = index.search("rejestr skarg koparka", at=TODAY, variants=DEFAULT_VARIANTS)
    assert results.partial and results.hits[0].doc_id == "P-08"
    whole = index.search("rejestr skarg", at=TODAY, variants=DEFAULT_VARIANTS)
    assert not whole.partial and whole.hits[0].doc_id == "P-08"


def test_one_unknown_word_is_still_an_empty_answer(index):
    results = index.search("koparka", at=TODAY, variants=DEFAULT_VARIANTS)
    assert results.total == 0 and not results.partial


@pytest.mark.parametrize(
    "word,partner",
    [
        ("zatwierdzenie", "zatwierdzanie"),
        ("sprawdzania", "sprawdzenia"),
        ("zatwierdzeń", "zatwierdzań"),
        ("plan", None),
    ],
)
def test_verbal_noun_partner(word, partner):
    assert verbal_noun_partner(word) == partner


def test_variants_come_from_the_policy_file():
    text = default_policy().to_yaml().replace("- audyt\n    - audit", "- kontrola\n    - sprawdzenie")
    policy = parse_policy(text)
    assert ("kontrola", "sprawdzenie") in policy.variants
    assert parse_policy(default_policy().to_yaml()).variants == DEFAULT_VARIANTS
    with pytest.raises(Invalid, match="search.variants"):
        parse_policy(default_policy().to_yaml() + "  - [jedno]\n")


def test_the_page_marks_a_partial_answer(client, auth, instance, people):
    from conftest import release

    release(instance, people)  # P-01: "Nadzór nad dokumentami"
    auth.login("reader")
    page = client.get("/search?q=nadzór+koparka").get_data(as_text=True)
    assert "No document holds every word" in page and "P-01" in page
    answer = client.get("/api/v1/search?q=nadzór+koparka").get_json()
    assert answer["partial"] is True
