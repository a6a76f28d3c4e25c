"""Relevance over the sample documents: Polish queries (inflected, without diacritics, phrases,
operators, IDs, an English glossary term) and the documents that must come back near the top.
Run with `pytest -s tests/test_search_relevance.py` to see the scores."""

from __future__ import annotations

from datetime import date

import pytest
from whoosh.query import Term

from docctl.assets import asset_dir
from docctl.core.documents import parse_document
from docctl.derived.search import IndexEntry, SearchIndex

TODAY = date(2026, 6, 1)

# (query, documents that must all be in the top N, N)
CASES = [
    ("audyt", {"P-05"}, 3),
    ("audytów", {"P-05"}, 3),
    ("audytorzy", {"P-05"}, 3),
    ("audytora", {"P-05"}, 3),
    ("wniosek", {"P-07"}, 3),
    ("wniosku", {"P-07", "P-08"}, 3),
    ("wniosków", {"P-08"}, 3),
    ("skarga", {"P-08"}, 2),
    ("skarg", {"P-08"}, 2),
    ("skargami", {"P-08"}, 3),
    ("źródło niezgodności", {"P-06"}, 2),
    ("zrodlo", {"P-06"}, 3),
    ("zrodla niezgodnosci", {"P-06"}, 2),
    ("niezgodność", {"P-06"}, 2),
    ("dzialania korygujace", {"P-06"}, 2),
    ("działaniom korygującym", {"P-06"}, 2),
    ("nadzoru nad dokumentami", {"P-01"}, 2),
    ("nadzor nad zapisami", {"P-02"}, 2),
    ("procedurze", {"P-01"}, 5),
    ("zamówień publicznych", {"P-09"}, 1),
    ("zamowienia publiczne", {"P-09"}, 1),
    ("komisji przetargowej", {"P-09"}, 1),
    ("kopii zapasowych", {"IR-02"}, 1),
    ("kopia zapasowa", {"IR-02"}, 1),
    ("korespondencji", {"IR-01"}, 1),
    ("przegląd zarządzania", {"P-03"}, 2),
    ("przeglądu zarządzania", {"P-03"}, 2),
    ("polityka jakości", {"PL-01"}, 2),
    ("celów jakościowych", {"PL-01"}, 3),
    ('"rejestr skarg i wniosków"', {"F-P08-01"}, 2),
    ('"plan audytów"', {"F-P05-01"}, 2),
    ("ePUAP", {"P-07", "IR-01"}, 3),
    ("klientów niepełnosprawnościami", {"P-07"}, 1),
    ("RODO", {"P-02"}, 1),
    ("P-05", {"P-05"}, 1),
    ("f-p06-01", {"F-P06-01"}, 1),
    ("corrective action", {"P-06", "DZ-01"}, 3),
    ("internal audit", {"P-05", "DZ-01"}, 3),
    ("audyt OR skarga", {"P-05", "P-08"}, 4),
    ("skarga NOT wniosek", set(), 0),
    ("Kodeksu postępowania administracyjnego", {"P-08"}, 2),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    entries = []
    for path in sorted((asset_dir("docs_repo") / "documents").glob("*.md")):
        parsed = parse_document(path.read_text(encoding="utf-8"))
        meta = parsed.meta
        entries.append(
            IndexEntry(
                key=f"{meta.id}@1",
                doc_id=meta.id,
                title=meta.title,
                body=parsed.body,
                type=meta.type,
                unit=meta.unit,
                revision=1,
                status="released",
                valid_from=date(2024, 1, 1),
                valid_until=None,
            )
        )
    search = SearchIndex(tmp_path_factory.mktemp("relevance") / "search")
    search.rebuild(entries, commit="sample")
    return search


@pytest.mark.parametrize("query,expected,top", CASES, ids=[c[0] for c in CASES])
def test_relevance(index, query, expected, top):
    results = index.search(query, at=TODAY, per_page=10)
    ranked = [h.doc_id for h in results.hits]
    print(f"\n{query!r}: " + ", ".join(f"{h.doc_id} {h.score:.2f}" for h in results.hits[:5]))
    if not expected:
        return
    assert expected <= set(ranked[:top]), f"{query!r} → {ranked[:top]}"


def test_there_are_enough_cases():
    assert len([c for c in CASES if c[1]]) >= 30


def test_not_excludes(index):
    hits = {h.doc_id for h in index.search("skarga NOT wniosek", at=TODAY).hits}
    assert "P-08" not in hits  # P-08 speaks of both


def test_ranking_from_kept_part_scores_is_whooshs_own(index, monkeypatch):
    """Issue 33: the usual query is ranked from its parts' kept scores (ranking.py), not by
    Whoosh's collector. Every case above, every page: the same documents in the same order with
    the same scores, the same total and facets as Whoosh's own search gives."""
    import docctl.derived.search.index as module

    def answers(query):
        pages = []
        for page in (1, 2):
            found = index.search(query, at=TODAY, per_page=3, page=page)
            pages.append((found.total, found.facets, [(h.key, h.score) for h in found.hits]))
        return pages

    kept = {query: answers(query) for query, _, _ in CASES}
    assert any(len(k[0][2]) == 3 and k[1][2] for k in kept.values())  # real second pages
    used = []
    original = module.plain_parts
    monkeypatch.setattr(module, "plain_parts", lambda q: used.append(q) and None)
    index.close()
    index._parts = module.PartScores()
    index._local = __import__("threading").local()
    for query, _, _ in CASES:
        assert answers(query) == kept[query], query
    assert used  # Whoosh's own path answered this time
    assert original(module.And([module.Term("body", "a"), module.Term("body", "b")])) is not None


def test_parts_scored_from_postings_are_whooshs_scores(tmp_path):
    """Issue 33: a part is scored a block of postings at a time (search/postings.py). Over an
    index of several segments with a replaced document (a deletion Whoosh filters out), every
    part of every case scores exactly the documents Whoosh's matchers score, to 1e-12, phrases
    too; a phrase with slop and a NOT are left to Whoosh."""
    from whoosh.query import Phrase

    from docctl.derived.search.postings import part_scores
    from docctl.derived.search.ranking import plain_parts

    entries = []
    for path in sorted((asset_dir("docs_repo") / "documents").glob("*.md")):
        parsed = parse_document(path.read_text(encoding="utf-8"))
        meta = parsed.meta
        entries.append(
            IndexEntry(meta.id, meta.id, meta.title, parsed.body, meta.type, meta.unit, 1, "released", TODAY, None)
        )
    search = SearchIndex(tmp_path / "search")
    search.rebuild(entries[: len(entries) // 2], commit="a")
    search.apply(entries[len(entries) // 2 :], commit="b")  # a second segment
    first = entries[0]
    search.apply([IndexEntry(**{**first.__dict__, "body": first.body + " audyt audyt audyt"})], commit="c")
    ix = search._open()
    searcher, _ = search._searcher(ix)
    assert len(searcher.leaf_searchers()) > 1 and ix.reader().has_deletions()
    phrases = [
        '"plan audytów"',
        '"rejestr skarg i wniosków"',
        '"działania korygujące" audyt',
        '"audyt audyt"',  # the same word twice: Whoosh sums both
        '"audytów plan"',  # the words the other way round: not a phrase anywhere
        '"zzzz audyt"',
        '"nadzoru nad dokumentami"',
    ]
    scored = phrased = 0
    for query in [case[0] for case in CASES] + phrases:
        for part in plain_parts(search._parse(ix, query)) or []:
            ours = part_scores(searcher, part)
            if ours is None:
                assert type(part) is not Term, part
                continue
            theirs = dict(searcher.search(part, limit=None).items())
            assert ours.keys() == theirs.keys(), part
            assert all(ours[d] == pytest.approx(theirs[d], rel=1e-12) for d in theirs), part
            scored += 1
            if any(isinstance(q, Phrase) for q in part.leaves()):
                phrased += bool(theirs)
                within = set(list(theirs)[::2]) | {10_000}
                cut = part_scores(searcher, part, within)  # only the documents a search may show
                assert cut == {d: s for d, s in ours.items() if d in within}, part
    assert scored > 40 and phrased >= 4
    assert part_scores(searcher, search._parse(ix, '"plan audytów"~2')) is None  # slop: Whoosh's spans
    for words in ("audyt skarga", "audytów zzzz wniosek", "kopia"):  # any of the words: coordination
        query = search._parse(ix, words, every_word=False)
        theirs = dict(searcher.search(query, limit=None).items())
        ours = part_scores(searcher, query)
        assert ours.keys() == theirs.keys() and theirs, words
        assert all(ours[d] == pytest.approx(theirs[d], rel=1e-12) for d in theirs), words
