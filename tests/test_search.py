"""The Whoosh index on its own: analysis, scopes, snippets, facets, robustness, concurrency."""

from __future__ import annotations

import multiprocessing
from datetime import date

import pytest

from docctl.derived.search import IndexEntry, SearchIndex
from docctl.derived.search.analysis import fold, stem_pl

AT = date(2026, 6, 1)


def entry(
    key,
    doc_id,
    title,
    body,
    *,
    type="procedure",
    unit="KS",
    revision=1,
    status="released",
    valid_from=date(2024, 1, 1),
    valid_until=None,
    withdrawn=False,
    owner="",
):
    return IndexEntry(key, doc_id, title, body, type, unit, revision, status, valid_from, valid_until, withdrawn, owner)


CORPUS = [
    entry(
        "P-05@1",
        "P-05",
        "Audyty wewnętrzne",
        "Audyt wewnętrzny prowadzi zespół audytorów raz na dwa lata.",
        valid_until=date(2025, 1, 1),
    ),
    entry(
        "P-05@2",
        "P-05",
        "Audyty wewnętrzne",
        "Audyt wewnętrzny prowadzi zespół audytorów co roku.",
        revision=2,
        valid_from=date(2025, 1, 1),
    ),
    entry(
        "P-08@1",
        "P-08",
        "Skargi i wnioski",
        "Każdą skargę i każdy wniosek rejestruje się. <script>alert(1)</script>",
        unit="OR",
    ),
    entry("P-06@1", "P-06", "Niezgodności", "Źródłem niezgodności może być skarga klienta.", unit="KS"),
    entry("F-01@1", "F-01", "Formularz wniosku", "Wniosek o wydanie zaświadczenia.", type="form", unit="BOM"),
    entry(
        "IR-03@1",
        "IR-03",
        "Archiwizacja na płytach",
        "Nośniki optyczne w sejfie.",
        type="instruction",
        unit="IT",
        valid_until=date(2025, 3, 10),
        withdrawn=True,
    ),
    entry("P-09@1", "P-09", "Zamówienia publiczne", "Rejestr ryzyk zamówień.", valid_from=date(2026, 9, 1)),
    entry(
        "change:7",
        "P-10",
        "Szkolenia",
        "Plan szkoleń BHP.",
        status="draft",
        revision=0,
        valid_from=None,
        owner="jkowalska",
    ),
]


@pytest.fixture
def index(tmp_path):
    search = SearchIndex(tmp_path / "search")
    search.rebuild(CORPUS, commit="c1")
    return search


def ids(index, q, **kw):
    return [h.doc_id for h in index.search(q, at=AT, **kw).hits]


@pytest.mark.parametrize(
    "word,other",
    [
        ("audytów", "audyt"),
        ("wniosku", "wniosek"),
        ("skarg", "skarga"),
        ("nadzoru", "nadzór"),
        ("procedurze", "procedura"),
        ("zrodla", "źródło"),
    ],
)
def test_inflected_forms_share_a_stem(word, other):
    assert stem_pl(word) == stem_pl(other)


def test_folding_covers_every_polish_letter():
    assert fold("zażółć gęślą jaźń ŁÓDŹ") == "zazolc gesla jazn LODZ"


def test_inflection_and_missing_diacritics(index):
    assert ids(index, "audytów") == ["P-05"]
    assert set(ids(index, "wniosku")) == {"P-08", "F-01"}
    assert ids(index, "zrodlo") == ["P-06"]


def test_phrase_and_operators(index):
    assert ids(index, '"audyt wewnętrzny"') == ["P-05"]
    assert ids(index, '"wewnętrzny audyt"') == []
    assert set(ids(index, "skarga OR audyt")) == {"P-05", "P-08", "P-06"}
    assert ids(index, "skarga AND klienta") == ["P-06"]
    assert ids(index, "skarga NOT klienta") == ["P-08"]


def test_snippets_are_marked_and_html_safe(index):
    hit = index.search("rejestruje", at=AT).hits[0]
    assert "<mark" in hit.snippet and "<script>" not in hit.snippet
    script = index.search("alert", at=AT).hits[0]
    assert "&lt;script&gt;" in script.snippet


def test_filters_facets_pagination(index):
    results = index.search("wniosek", at=AT)
    assert results.facets["type"] == {"form": 1, "procedure": 1}
    assert ids(index, "wniosek", doc_type="form") == ["F-01"]
    assert ids(index, "wniosek", unit="OR") == ["P-08"]
    page2 = index.search("wniosek", at=AT, per_page=1, page=2)
    assert page2.total == 2 and len(page2.hits) == 1


def test_scope_current_versus_all(index):
    assert ids(index, "dwa lata") == []
    hits = index.search("dwa lata", at=AT, scope="all").hits
    assert [(h.doc_id, h.revision) for h in hits] == [("P-05", 1)]


def test_future_revision_is_not_current_until_its_day(index):
    assert ids(index, "ryzyk") == []
    assert (
        ids(
            index,
            "ryzyk",
        )
        == []
        and index.search("ryzyk", at=date(2026, 9, 1)).hits[0].doc_id == "P-09"
    )


def test_obsolete_only_when_asked(index):
    assert ids(index, "nośniki") == []
    hits = index.search("nośniki", at=AT, include_obsolete=True).hits
    assert [h.doc_id for h in hits] == ["IR-03"] and hits[0].obsolete


def test_drafts_only_for_their_owner(index):
    assert ids(index, "szkoleń", user="jkowalska") == ["P-10"]
    assert ids(index, "szkoleń", user="someone") == [] and ids(index, "szkoleń") == []


def test_did_you_mean(index):
    assert index.search("wnoisek", at=AT).suggestion == "wniosek"
    assert index.search("wniosek", at=AT).suggestion is None


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "(",
        ")",
        "AND",
        "OR NOT",
        "*",
        "-",
        "title:x",
        "a:b:c",
        "***",
        "[",
        "{",
        "~",
        "^",
        "\\",
        "' OR 1=1 --",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "",
        "   ",
    ],
)
def test_odd_queries_never_raise(index, query):
    index.search(query, at=AT)


def test_apply_upserts_deletes_and_records_the_commit(index):
    index.apply(
        [entry("P-08@1", "P-08", "Skargi", "Nowa treść o petycjach.", unit="OR")], deletes=["F-01@1"], commit="c2"
    )
    assert ids(index, "petycjach") == ["P-08"]
    assert ids(index, "rejestruje") == []  # replaced, not duplicated
    assert "F-01@1" not in index.keys()
    assert index.indexed_commit() == "c2"


def test_rebuild_swaps_in_a_new_generation(index, tmp_path):
    assert index.rebuild(CORPUS[:2], commit="c9") == 2
    assert index.keys() == {"P-05@1", "P-05@2"} and index.indexed_commit() == "c9"
    assert len(list((tmp_path / "search").glob("gen-*"))) == 1


def test_missing_or_corrupted_index_is_detected(index, tmp_path):
    assert index.exists()
    for path in (tmp_path / "search").rglob("*.toc"):
        path.write_bytes(b"\x00garbage")
    assert not index.exists()
    index.rebuild(CORPUS, commit="c3")
    assert index.exists() and ids(index, "audyt") == ["P-05"]


def _writer(args):
    path, worker = args
    search = SearchIndex(path)
    for n in range(25):
        search.apply([entry(f"D-{worker}-{n}@1", f"D-{worker}-{n}", "Dokument", f"treść {worker} {n}")])
    return worker


def test_several_processes_write_without_losing_documents(tmp_path):
    path = tmp_path / "search"
    SearchIndex(path).rebuild([], commit="c0")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_writer, [(path, w) for w in range(4)])
    keys = SearchIndex(path).keys()
    assert len(keys) == 100 and {f"D-{w}-{n}@1" for w in range(4) for n in range(25)} == keys


def test_small_segments_are_merged_eventually(index):
    from docctl.derived.search.index import MERGE_AFTER_SEGMENTS

    for n in range(3 * MERGE_AFTER_SEGMENTS):
        index.apply([entry(f"X-{n}@1", f"X-{n}", "Dokument", f"treść numer {n}")])
    assert len(index._open()._segments()) <= MERGE_AFTER_SEGMENTS
    assert len([k for k in index.keys() if k.startswith("X-")]) == 3 * MERGE_AFTER_SEGMENTS


def test_nothing_in_scope_means_nothing_found(tmp_path):
    search = SearchIndex(tmp_path / "s")
    search.rebuild([entry("A-1@1", "A-1", "Audyt", "audyt", valid_from=date(2030, 1, 1))], commit="c")
    assert search.search("audyt", at=AT).total == 0  # an empty filter must not mean "no filter"


def test_an_index_written_before_the_package_moved_still_opens():
    """Issue 28 moved `docctl.search` to `docctl.derived.search`; Whoosh's pickled schemas of
    existing indexes name the old module (protocol 0 here: the name as plain text)."""
    import pickle

    from docctl.derived.search import analysis

    assert pickle.loads(b"cdocctl.search.analysis\nstem_pl\n.") is analysis.stem_pl  # noqa: S301 - our own bytes


def test_snippets_found_by_candidates_are_those_every_word_gives():
    """Issue 33: an excerpt's first match is looked for among the words holding a marked stem's
    first letters (search/answers.py), not by stemming every word: over the sample documents and
    queries, including a word in capitals, the excerpts are the same."""
    import re as regex

    from whoosh.query import Or, Term

    from docctl.assets import asset_dir
    from docctl.derived.search import answers
    from docctl.derived.search.analysis import fold, stem_pl

    bodies = [p.read_text(encoding="utf-8") for p in sorted((asset_dir("docs_repo") / "documents").glob("*.md"))]
    bodies.append("Na początku nic, potem NAJLEPSZY wynik — i Źródło.")
    bodies.append("Zażółć gęślą jaźń, " * 400 + "a na końcu audyt wewnętrzny i wnioski.")  # past 2 KB pieces
    queries = ["audyt", "najlepszy", "źródło niezgodności", "wniosków", "ePUAP", "kopii zapasowych", "zzz", "RODO"]
    every_word = answers._candidates
    compared = 0
    for query in queries:
        words = regex.findall(r"\w+", query.lower())
        marks = answers.marks_of(
            Or([Term(f, t) for w in words for f, t in (("body", stem_pl(w)), ("body_folded", fold(w)))])
        )
        for body in bodies:
            ours = answers.snippet(body, marks, "pl")
            kept = answers.snippet(body, marks, "pl", folded=answers.folded_text(body))  # folded once, kept
            answers._candidates = lambda text, _marks, _folded=None: regex.finditer(r"\w+", text)
            try:
                theirs = answers.snippet(body, marks, "pl")
            finally:
                answers._candidates = every_word
            assert ours == theirs == kept, (query, body[:60])
            compared += "<mark>" in ours
    assert compared > 20
    found = answers.snippet(bodies[-2], answers.marks_of(Term("body", stem_pl("najlepszy"))), "pl")
    assert "<mark>NAJLEPSZY</mark>" in found, found
    assert answers.folded_text("Zażółć İ") is None  # lower-casing İ lengthens it: offsets would slip
