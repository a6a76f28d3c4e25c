"""Issue 33: Whoosh reads its mmapped segments in place. Its BufferFile wrapped each part of a
segment in io.BytesIO, a private copy per searcher: a server worker held 1.0-1.3 GB at
20,000 × 10, the all-revisions index once per thread that searched it."""

from __future__ import annotations

import io
from datetime import date

import pytest

from docctl.derived.search import IndexEntry, SearchIndex
from docctl.derived.search.mapped import _ViewReader

DATA = b"abc\ndef\n" + b"x" * 10_000 + b"\nend"
STEPS = [
    ("readline",),
    ("read", 2),
    ("tell",),
    ("readline",),
    ("readline",),
    ("seek", 3),
    ("read", 5),
    ("seek", -2, io.SEEK_END),
    ("read", -1),
    ("read", 3),
    ("seek", 1, io.SEEK_CUR),
    ("tell",),
    ("readline", 2),
]


@pytest.mark.parametrize("upto", range(1, len(STEPS) + 1))
def test_the_view_reader_reads_as_bytesio_does(upto):
    ours, theirs = _ViewReader(memoryview(DATA)), io.BytesIO(DATA)
    for name, *args in STEPS[:upto]:
        assert getattr(ours, name)(*args) == getattr(theirs, name)(*args), (name, args)


def test_a_searcher_reads_the_mapping_without_a_copy(tmp_path):
    search = SearchIndex(tmp_path / "search")
    entry = IndexEntry(
        "P-01@1", "P-01", "Audyty", "Audyt wewnętrzny " * 500, "procedure", "OR", 1, "released", date(2024, 1, 1), None
    )
    search.rebuild([entry], commit="c")
    assert search.search("audyt", at=date(2026, 1, 1)).total == 1
    searcher, _ = search._searcher(search._open())
    opened = [f for f in _files(searcher.reader()) if f.__class__.__name__ == "BufferFile"]
    assert opened and all(isinstance(f.file, _ViewReader) for f in opened)
    search.close()


def _files(reader):
    """The BufferFiles a segment reader holds (postings, terms, stored fields)."""
    found = []
    for part in (getattr(reader, name, None) for name in ("_terms", "_postfile", "_perdoc")):
        for value in vars(part).values() if part is not None and hasattr(part, "__dict__") else ():
            if value.__class__.__name__ == "BufferFile":
                found.append(value)
    for value in vars(reader).values():
        if value.__class__.__name__ == "BufferFile":
            found.append(value)
    return found


def test_a_new_part_is_scored_once_however_many_threads_ask_at_once():
    """The first query after a release, from eight clients at once: one thread scores the word,
    the others wait for its answer (not eight scorings side by side under the GIL)."""
    import threading
    import time

    from whoosh.query import Term

    from docctl.derived.search.ranking import PartScores

    calls = []

    class Results:
        def items(self):
            return [(1, 2.0), (3, 1.0)]

    class Searcher:
        schema = object()
        weighting = None  # not BM25F: scored by search(), as Whoosh would

        def reader(self):
            return self

        def generation(self):
            return 7

        def doc_count_all(self):
            return 4

        def leaf_readers(self):
            return [(self, 0)]

        def search(self, part, limit=None):
            calls.append(part)
            time.sleep(0.05)
            return Results()

    parts, searcher, answers = PartScores(), Searcher(), []
    threads = [
        threading.Thread(target=lambda: answers.append(parts.scores(searcher, Term("body", "audyt")))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and answers == [{1: 2.0, 3: 1.0}] * 8


def test_the_threads_of_a_process_share_scores_and_facets(tmp_path):
    """Each thread's searcher unpickles its own schema; the scores and facets kept for one
    thread serve the others (keyed by generation and segments, not by the schema's id), and a
    release makes a new key."""
    import threading

    from docctl.derived.search.ranking import _generation

    search = SearchIndex(tmp_path / "search")
    entry = IndexEntry("P-01@1", "P-01", "Audyty", "Audyt", "procedure", "OR", 1, "released", date(2024, 1, 1), None)
    search.rebuild([entry], commit="c")
    keys = []

    def look():
        searcher, _ = search._searcher(search._open())
        keys.append((_generation(searcher), id(searcher.schema)))
        search.close()

    for _ in range(2):
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    (first, schema_a), (second, schema_b) = keys
    assert schema_a != schema_b and first == second
    search.apply([IndexEntry(**{**entry.__dict__, "key": "P-01@2", "revision": 2})], commit="d")
    look()
    assert keys[-1][0] != first
