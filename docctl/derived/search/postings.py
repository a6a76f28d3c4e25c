"""A query part scored from its postings a block at a time (issue 33), as Whoosh scores it.

Whoosh scores a word through a tree of matchers: for every posting of every field, a handful of
Python method calls (``id``, ``weight``, ``score``, the field length read one document at a
time). At 20,000 documents a common word was 80,000 postings and 140-630 ms. Here each term's
posting blocks are decoded as Whoosh decodes them, and the BM25F score of each posting is one
expression in one loop, with every document's field length read once per segment (segments do
not change; only the collection's averages do, so those are taken from the searcher each time).

Only what Whoosh would answer the same way is scored here: a term, a phrase of adjacent words, or
an ``Or`` of those and such ``Or``s, each with its boost, over scorable fields, with BM25F — the
outermost ``Or`` of terms may have a coordination ``scale`` (the query of any of the words).
Anything else — a phrase with slop, an ``And`` inside, another weighting — returns None and Whoosh
scores it. The scores equal Whoosh's to the last bits of a float (the same formula, summed in
another order); tests/test_search_relevance.py holds them side by side.

A phrase scores as Whoosh's ``SpanNear2`` does: the sum of its words' scores in each document
where the words stand at consecutive positions, times the phrase's boost. Whoosh decoded the
positions of every document holding all the words (p95 200 ms a phrase at 20,000 × 10, where the
index holds every revision); here the candidates are first cut to the documents the search may
show (``within``: the revisions in force, usually a tenth of the index), by set operations on
the docnums, and only theirs are decoded.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from itertools import accumulate
from pickle import loads

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield, byte_to_length
from whoosh.matching import FilterMatcher
from whoosh.query import Or, Phrase, Query, Term
from whoosh.scoring import BM25F
from whoosh.system import _INT_SIZE

_lengths: dict[tuple[str, str], array] = {}  # (segment id, field) → each document's field length
_lengths_lock = threading.Lock()
LENGTHS_KEPT = 64


def part_scores(searcher, part: Query, within: set[int] | None = None) -> dict[int, float] | None:
    """docnum → score of ``part`` as ``searcher.search(part, limit=None)`` gives it; None when
    the part is not one this module scores. ``within``: a phrase's documents are looked for
    among these only (the others' scores are left out, not changed)."""
    weighting = searcher.weighting
    if type(weighting) is not BM25F:
        return None
    # "Any of the words" (a query that found nothing with all of them) is an Or with a
    # coordination scale: Whoosh's CoordMatcher over the whole tree, one segment at a time.
    scale = part.scale if type(part) is Or else None
    leaves = _leaves(Or(part.subqueries, boost=part.boost) if scale else part, 1.0)
    if leaves is None or any(not searcher.schema[field].scorable for field, _, _ in leaves):
        return None
    if scale and any(isinstance(words, tuple) for _, words, _ in leaves):
        return None
    scores: dict[int, float] = {}
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        here: dict[int, float] = {}
        matched: dict[int, int] = {}
        present = 0
        for field, words, boost in leaves:
            if isinstance(words, tuple):
                found = _phrase(searcher, reader, field, words, boost, within, offset)
                if found is None:
                    return None
                get = here.get
                for docnum, score in found.items():
                    here[docnum] = get(docnum, 0.0) + score
                continue
            postings = _postings(searcher, reader, field, words)
            if postings is False:
                continue
            if postings is None:
                return None
            present += 1
            bm25, blocks, deleted = postings
            factor, constant, per_length, lengths = bm25.factor * boost, bm25.constant, bm25.per_length, bm25.lengths
            get = here.get
            for ids, weights in blocks:
                for docnum, tf in zip(ids, weights, strict=True):
                    if deleted and docnum in deleted:
                        continue
                    here[docnum] = get(docnum, 0.0) + factor * tf / (tf + constant + per_length * lengths[docnum])
                    if scale:
                        matched[docnum] = matched.get(docnum, 0) + 1
        if scale and present:
            # CoordMatcher's "SQR": (score + (matching - 1) / (terms - scale)²) × (terms - 1) / terms
            here = {
                docnum: (score + ((matched[docnum] - 1) / (present - scale) ** 2)) * ((present - 1) / present)
                for docnum, score in here.items()
            }
        scores.update((docnum + offset, score) for docnum, score in here.items())
    return scores


class _BM25:
    """A term's BM25F in a segment: ``factor * tf / (tf + constant + per_length * lengths[docnum])``."""

    __slots__ = ("factor", "constant", "per_length", "lengths")

    def __init__(self, factor: float, constant: float, per_length: float, lengths: array) -> None:
        self.factor, self.constant, self.per_length, self.lengths = factor, constant, per_length, lengths

    def __call__(self, docnum: int, tf: float) -> float:
        return self.factor * tf / (tf + self.constant + self.per_length * self.lengths[docnum])


def _postings(searcher, reader, field: str, text: str, values: bool = False):
    """(the term's BM25F in the segment, its blocks, the segment's deleted docnums);
    False when the segment lacks the term; None when its postings are not Whoosh's usual ones."""
    encoded = searcher.schema[field].to_bytes(text)
    if (field, encoded) not in reader:
        return False
    weighting = searcher.weighting
    k1 = weighting.K1
    b = weighting._field_B.get(field, weighting.B)
    average = searcher.avg_field_length(field) or 1
    # bm25 = idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
    factor = searcher.idf(field, text) * (k1 + 1)
    constant, per_length = k1 * (1 - b), k1 * b / average
    matcher = reader.postings(field, encoded)
    deleted: frozenset[int] = frozenset()
    if type(matcher) is FilterMatcher and matcher._exclude:
        deleted, matcher = frozenset(matcher._ids), matcher.child
    if type(matcher) is not W3LeafMatcher:
        return None
    bm25 = _BM25(factor, constant, per_length, _field_lengths(reader, field))
    return bm25, _blocks(matcher, values), deleted


def _phrase(searcher, reader, field: str, words: tuple[str, ...], boost: float, within, offset: int):
    """docnum (in the segment) → the phrase's score, for the documents of ``within`` where its
    words stand one after another."""
    columns = []  # per word: its BM25F, and its postings' docnums, weights and encoded positions
    for word in words:
        found = _postings(searcher, reader, field, word, values=True)
        if found is False:
            return {}  # Whoosh: a word the segment lacks, no match in it
        if found is None:
            return None
        bm25, blocks, deleted = found
        ids: list[int] = []
        weights: list[float] = []
        values: list[bytes] = []
        for block_ids, block_weights, block_values in blocks:
            ids += block_ids
            weights += block_weights
            values += block_values
        columns.append((bm25, ids, weights, values))
    first = columns[0][1]
    if within is None:
        candidates = set(first)
    elif offset:
        candidates = {docnum for docnum in first if docnum + offset in within}
    else:
        candidates = within.intersection(first)
    for _, ids, _, _ in columns[1:]:
        candidates = candidates.intersection(ids)
    scores = {}
    for docnum in candidates - deleted:
        places = [bisect_left(ids, docnum) for _, ids, _, _ in columns]  # docnums ascend
        starts = _positions(columns[0][3][places[0]])
        for distance, (_, _, _, values) in enumerate(columns[1:], 1):
            later = set(_positions(values[places[distance]]))
            starts = [p for p in starts if p + distance in later]
            if not starts:
                break
        if starts:
            scores[docnum] = boost * sum(
                bm25(docnum, weights[place]) for (bm25, _, weights, _), place in zip(columns, places, strict=True)
            )
    return scores


def _positions(value: bytes) -> list[int]:
    """A posting's positions, as ``Positions.decode_positions`` reads them (deltas, pickled:
    Whoosh unpickles its own index files the same way; the index is docctl's, derived from git)."""
    encoded = value[_INT_SIZE:] if value.endswith(b".") else value[_INT_SIZE:] + b"."
    return list(accumulate(loads(encoded)))  # noqa: S301 - docctl's own index, as Whoosh reads it


def _leaves(query: Query, boost: float) -> list[tuple[str, str | tuple[str, ...], float]] | None:
    """(field, text or a phrase's words, boost) of each leaf of a part made only of terms,
    phrases of adjacent words and plain ``Or``s."""
    if type(query) is Term:
        return [(query.fieldname, query.text, boost * query.boost)]
    if type(query) is Phrase:
        if query.slop != 1 or not query.words:
            return None
        return [(query.fieldname, tuple(query.words), boost * query.boost)]
    if type(query) is Or and not query.scale:
        found = []
        for sub in query.subqueries:
            leaves = _leaves(sub, boost * query.boost)
            if leaves is None:
                return None
            found += leaves
        return found
    return None


def _blocks(matcher: W3LeafMatcher, values: bool = False):
    """Each block's docnums and weights (and encoded values), decoded by Whoosh's own block reader."""
    while True:
        matcher._read_ids()
        matcher._read_weights()
        if values:
            matcher._read_values()
            yield matcher._ids, matcher._weights, matcher._values
        else:
            yield matcher._ids, matcher._weights
        if matcher._lastblock:
            return
        matcher._goto(matcher._nextoffset)


def _field_lengths(reader, field: str) -> array:
    """Each document's length of ``field`` in this segment (as Whoosh stores it: one byte), kept
    for the segment's lifetime: a release adds a segment and leaves the others as they were."""
    key = (reader.segment().segment_id(), field)
    with _lengths_lock:
        found = _lengths.get(key)
    if found is None:
        column = reader._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
        count = reader.doc_count_all()
        found = array("d", (byte_to_length(column[docnum]) if column is not None else 0 for docnum in range(count)))
        with _lengths_lock:
            while len(_lengths) >= LENGTHS_KEPT:
                _lengths.pop(next(iter(_lengths)))
            _lengths[key] = found
    return found
