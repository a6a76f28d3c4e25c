"""A query part scored from its postings a block at a time (issue 33), as Whoosh scores it.

Whoosh scores a word through a tree of matchers: for every posting of every field, a handful of
Python method calls (``id``, ``weight``, ``score``, the field length read one document at a
time). At 20,000 documents a common word was 80,000 postings and 140-630 ms. Here each term's
posting blocks are decoded as Whoosh decodes them, and the BM25F score of each posting is one
expression in one loop, with every document's field length read once per segment (segments do
not change; only the collection's averages do, so those are taken from the searcher each time).

Only what Whoosh would answer the same way is scored here: a term, or an ``Or`` of terms and such
``Or``s, each with its boost, over scorable fields, with BM25F — the outermost ``Or`` may have a
coordination ``scale`` (the query of any of the words).
Anything else — a phrase, an ``And`` inside, another weighting — returns None and Whoosh scores
it. The scores equal Whoosh's to the last bits of a float (the same formula, summed in another
order); tests/test_search_relevance.py holds them side by side.
"""

from __future__ import annotations

import threading
from array import array

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield, byte_to_length
from whoosh.matching import FilterMatcher
from whoosh.query import Or, Query, Term
from whoosh.scoring import BM25F

_lengths: dict[tuple[str, str], array] = {}  # (segment id, field) → each document's field length
_lengths_lock = threading.Lock()
LENGTHS_KEPT = 64


def part_scores(searcher, part: Query) -> dict[int, float] | None:
    """docnum → score of ``part`` as ``searcher.search(part, limit=None)`` gives it; None when
    the part is not one this module scores."""
    weighting = searcher.weighting
    if type(weighting) is not BM25F:
        return None
    # "Any of the words" (a query that found nothing with all of them) is an Or with a
    # coordination scale: Whoosh's CoordMatcher over the whole tree, one segment at a time.
    scale = part.scale if type(part) is Or else None
    terms = _terms(Or(part.subqueries, boost=part.boost) if scale else part, 1.0)
    if terms is None or any(not searcher.schema[field].scorable for field, _, _ in terms):
        return None
    k1 = weighting.K1
    scores: dict[int, float] = {}
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        here: dict[int, float] = {}
        matched: dict[int, int] = {}
        present = 0
        for field, text, boost in terms:
            encoded = searcher.schema[field].to_bytes(text)
            if (field, encoded) not in reader:
                continue
            present += 1
            b = weighting._field_B.get(field, weighting.B)
            average = searcher.avg_field_length(field) or 1
            # bm25 = idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average)), times the boost
            factor = searcher.idf(field, text) * (k1 + 1) * boost
            constant, per_length = k1 * (1 - b), k1 * b / average
            matcher = reader.postings(field, encoded)
            deleted: frozenset[int] = frozenset()
            if type(matcher) is FilterMatcher and matcher._exclude:
                deleted, matcher = frozenset(matcher._ids), matcher.child
            if type(matcher) is not W3LeafMatcher:
                return None
            lengths = _field_lengths(reader, field)
            get = here.get
            for ids, weights in _blocks(matcher):
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


def _terms(query: Query, boost: float) -> list[tuple[str, str, float]] | None:
    """(field, text, boost) of each term of a part made only of terms and plain ``Or``s."""
    if type(query) is Term:
        return [(query.fieldname, query.text, boost * query.boost)]
    if type(query) is Or and not query.scale:
        found = []
        for sub in query.subqueries:
            terms = _terms(sub, boost * query.boost)
            if terms is None:
                return None
            found += terms
        return found
    return None


def _blocks(matcher: W3LeafMatcher):
    """Each block's docnums and weights, decoded by Whoosh's own block reader."""
    while True:
        matcher._read_ids()
        matcher._read_weights()
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
