"""Ranking a query from the scores of its parts, each part scored once per index version (issue 33).

Whoosh scores a query by walking the postings of every term of every field in Python: a word
found in nearly every document ("audyt" in 1,993 of 2,000) cost 18-70 ms, on every new query that
held it, and grew with the register (262 ms at 10,000 documents). People's queries are new
combinations of the same few thousand words, so the scores are kept per *part* — one word with
its forms, fields and variants, or one phrase: a child of the query's top ``And`` — for as long as
the index does not change, shared by every thread. A query is then the intersection of its parts'
scores (an ``And`` scores the sum of its parts in Whoosh too, so the order is Whoosh's own), the
page taken from the top with a heap, the facets counted from a docnum → value table.

Memory is bounded by the number of (document, score) pairs kept, not by the number of queries:
:data:`PAIRS_KEPT` pairs (about 40 MB) per process, the least recently used part dropped first.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Iterable

from whoosh.query import And, AndNot, Not, Or, Phrase, Query, Term

from ...core.flight import OneBuilder
from .answers import folded_text
from .postings import part_scores

PAIRS_KEPT = 400_000
SUGGESTIONS_KEPT = 2_000
STORED_KEPT = 2_000  # documents' stored fields (title, body for the snippet…): ~10 MB


class PartScores:
    """Scores of query parts, per index generation, shared by the threads of one process."""

    def __init__(self, limit: int = PAIRS_KEPT) -> None:
        self._lock = threading.Lock()
        self._parts: OrderedDict[tuple, dict[int, float]] = OrderedDict()
        self._pairs = 0
        self._facets: dict[tuple, dict[str, frozenset[int]]] = {}
        self._suggestions: OrderedDict[tuple, str | None] = OrderedDict()
        self._builders = OneBuilder()  # a part is scored by one thread, the others wait
        self._stored: OrderedDict[tuple, dict] = OrderedDict()
        self.limit = limit

    def stored_fields(self, searcher, docnum: int) -> dict:
        """A hit's stored fields, kept for the threads of the process: unpickling a document
        with its body was a third of a search's time under the mixed load at 2,000 x 20, and
        the same documents come back in many answers. Segments never change, so a document
        is kept under its segment and its number there."""
        segment, local = _segment_of(searcher, docnum)
        key = (segment, local)
        with self._lock:
            found = self._stored.get(key)
            if found is not None:
                self._stored.move_to_end(key)
                return found
        found = searcher.stored_fields(docnum)
        found["folded body"] = folded_text(found.get("body", ""))  # for its excerpts (answers.py)
        with self._lock:
            self._stored[key] = found
            while len(self._stored) > STORED_KEPT:
                self._stored.popitem(last=False)
        return found

    def suggestion(self, searcher, q: str, suggest) -> str | None:
        """``suggest(searcher, q)`` (did you mean…, ~45 ms: it looks words up in the whole
        vocabulary) once per query text and index generation: a query that finds nothing is
        typed again, paged, and retried with other filters."""
        key = (_generation(searcher), q)
        with self._lock:
            if key in self._suggestions:
                return self._suggestions[key]
        found = suggest(searcher, q)
        with self._lock:
            self._suggestions[key] = found
            while len(self._suggestions) > SUGGESTIONS_KEPT:
                self._suggestions.popitem(last=False)
        return found

    def scores(self, searcher, part: Query, within: tuple[tuple, set[int]] | None = None) -> dict[int, float]:
        """The part's scores, computed by one thread at a time: eight threads asking for the same
        new word at once (the first query after a release) wait for the first one's answer
        instead of each scoring 20,000 documents beside it under the GIL (p99 1.75 s).

        ``within``: (a key, the documents the search may show). A phrase is scored within them
        only (decoding positions is its cost) and kept under that key; a word is scored whole,
        once for every scope."""
        phrase = within is not None and any(type(leaf) is Phrase for leaf in part.leaves())
        key = (_generation(searcher), repr(part), within[0] if phrase else None)
        with self._lock:
            found = self._parts.get(key)
            if found is not None:
                self._parts.move_to_end(key)
                return found
        with self._builders.turn(key):
            with self._lock:
                found = self._parts.get(key)
            if found is None:
                # a block of postings at a time (postings.py)
                found = part_scores(searcher, part, within[1] if phrase else None)
                if found is None:
                    found = dict(searcher.search(part, limit=None).items())
                with self._lock:
                    self._parts[key] = found
                    self._pairs += len(found)
                    while self._pairs > self.limit and len(self._parts) > 1:
                        _, dropped = self._parts.popitem(last=False)
                        self._pairs -= len(dropped)
        return found

    def facet_values(self, searcher, field: str) -> dict[str, frozenset[int]]:
        """The field's values (type, unit), each with its documents' docnums, read once per
        generation from the field's own postings (a few dozen terms), never from every stored
        document."""
        key = (_generation(searcher), field)
        with self._lock:
            found = self._facets.get(key)
        if found is None:
            found = {}
            for value in searcher.lexicon(field):
                text = value.decode("utf-8") if isinstance(value, bytes) else value
                found[text] = frozenset(searcher.docs_for_query(Term(field, text)))
            with self._lock:
                for old in [k for k in self._facets if k[0] != key[0]]:
                    del self._facets[old]
                self._facets[key] = found
        return found


def _generation(searcher) -> tuple:
    """What a searcher reads: the index's generation and its segments. Each thread's searcher
    unpickles a schema of its own, so the schema's id (the key until now) kept every thread's
    scores and facets apart, and the facets, kept for one key at a time, were recounted on
    nearly every query (a fifth of the mixed load's time at 2,000 x 20)."""
    reader = searcher.reader()
    segments = tuple(_segment_id(leaf) for leaf, _ in reader.leaf_readers())
    return (reader.generation(), reader.doc_count_all(), segments)


def _segment_id(leaf) -> object:
    return leaf.segment().segment_id() if hasattr(leaf, "segment") else id(leaf)


def _segment_of(searcher, docnum: int) -> tuple[object, int]:
    """(the segment's id, the document's number in it) of a searcher's ``docnum``."""
    leaves = searcher.reader().leaf_readers()
    for leaf, offset in reversed(leaves):
        if docnum >= offset:
            return _segment_id(leaf), docnum - offset
    raise IndexError(docnum)


def plain_parts(query: Query) -> list[Query] | None:
    """The parts of a query that is an ``And`` of positive parts (or one such part); None for a
    query this ranking does not answer (negations, an ``Or`` of whole queries): Whoosh ranks it."""
    parts = list(query.subqueries) if type(query) is And else [query]
    for part in parts:
        if isinstance(part, Not | AndNot) or any(isinstance(q, Not | AndNot) for q in part.leaves()):
            return None
        if type(part) is Or and any(type(sub) is And for sub in part.subqueries):
            return None
    return parts


def rank(
    part_scores: Iterable[dict[int, float]], allowed: set[int], start: int, count: int
) -> tuple[list[tuple[int, float]], set[int]]:
    """The ``count`` best (docnum, score) from ``start`` of the documents every part matched and
    ``allowed`` admits, best first (ties: the lower docnum, as Whoosh orders them); and the set
    of all documents matched (for the total and the facets). A start past the end gives the
    last page, as Whoosh's ``search_page`` does."""
    ordered = sorted(part_scores, key=len)
    if not ordered:
        return [], set()
    smallest, others = ordered[0], ordered[1:]
    combined = {d: s for d, s in smallest.items() if d in allowed}
    for other in others:
        combined = {d: s + other[d] for d, s in combined.items() if d in other}
    if start >= len(combined):
        start = max((len(combined) - 1) // count, 0) * count
    best = heapq.nlargest(start + count, combined.items(), key=lambda pair: (pair[1], -pair[0]))
    return best[start:], set(combined)


def facet_counts(matched: set[int], values: dict[str, frozenset[int]]) -> dict[str, int]:
    """How many of ``matched`` hold each value: one set intersection a value, in C (counting
    14,000 matches one by one took 3 ms a query at 20,000 documents)."""
    counts = ((value, len(matched & docs)) for value, docs in sorted(values.items()))
    return {value: count for value, count in counts if count}
