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


def test_the_searchers_of_a_process_share_one_mapping_of_each_segment_file(tmp_path):
    """Eight threads' searchers of one index map each segment file once between them (the
    kernel counted a page once per mapping: 700 MB of RSS a worker for 100 MB of index), and the
    mapping goes with the last searcher; a new generation's files get mappings of their own."""
    import threading

    from docctl.derived.search import mapped

    search = SearchIndex(tmp_path / "search")
    entries = [
        IndexEntry(f"P-0{n}@1", f"P-0{n}", "Audyty", "Audyt wewnętrzny", "procedure", "OR", 1, "released", None, None)
        for n in range(1, 4)
    ]
    search.rebuild(entries[:2], commit="a")
    search.apply(entries[2:], commit="b")  # a second segment file
    live = search._live()
    before = dict(mapped._mappings)
    ready, done = threading.Barrier(9), threading.Event()

    def hold():
        search._searcher(search._open())
        ready.wait()
        done.wait()
        search.close()

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=30)
        ours = {key: entry for key, entry in mapped._mappings.items() if key not in before}
        assert len(ours) == len(list(live.glob("*.seg"))) == 2
        assert all(users == 8 for _, users in ours.values())
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(key in mapped._mappings for key in ours)  # closed with the last searcher
    assert search.search("audyt", at=date(2026, 1, 1)).total == 3
    search.close()


def test_a_register_is_built_once_however_many_threads_ask_at_once(tmp_path, monkeypatch):
    """After a release every thread's next request found the register missing: eight built it
    side by side (50 MB of objects each at 20,000 documents), and the worker kept the memory."""
    import threading
    import time
    from types import SimpleNamespace

    from docctl.reading import Reader

    calls = []

    def master_list(at, include_obsolete=False):
        calls.append(at)
        time.sleep(0.05)
        return [f"state on {at}"]

    catalog = SimpleNamespace(master_list=master_list, current_head=lambda: "head-1")
    reader = Reader(SimpleNamespace(catalog=catalog, today=lambda: date(2026, 1, 1)))
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(reader._register(date(2026, 1, 1)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [date(2026, 1, 1)] and answers == [["state on 2026-01-01"]] * 8
    assert not len(reader._builders)  # nothing left being built
    reader._register(date(2025, 1, 1))
    assert len(calls) == 2  # another day: its own register


def test_a_worker_hands_freed_memory_back(monkeypatch):
    """glibc: at most two malloc arenas and the free pages trimmed; a C library without them
    (musl) leaves both as no-ops."""
    from docctl.ops import memory

    found = []
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: found.append(name) or "libc.so.6")
    memory._glibc.cache_clear()
    assert memory.give_back() is True and memory.give_back() is True
    assert found == ["c"]  # looked up once, not every time the worker trims
    assert memory.limit_arenas() is True
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.give_back() is False and memory.limit_arenas() is False
    monkeypatch.undo()
    memory._glibc.cache_clear()
