"""What a search answer shows beside each hit: the matched words marked in an excerpt, and a
"did you mean" for a query that found nothing."""

from __future__ import annotations

import functools
import re
from html import escape

from .analysis import POLISH_STOP_WORDS, fold, stemmer_for


def marks_of(query) -> tuple[set[str], set[str]]:
    """The stems and the folded words a query matches: what an excerpt marks."""
    stems, words = set(), set()
    for field, text in query.iter_all_terms():
        text = text.decode() if isinstance(text, bytes) else text
        if field in ("body", "title"):
            stems.add(text)
        elif field in ("body_folded", "title_folded"):
            words.add(text)
    return stems, words


def snippet(
    body: str, marks: tuple[set[str], set[str]], language: str, width: int = 240, folded: str | None = None
) -> str:
    """An HTML-safe excerpt around the first matches, matched words in <mark>.

    Written here rather than with Whoosh's highlighter, which re-analyses each hit's whole
    text and was 60% of query time at 2,000 documents (measured 2026-11). ``folded``: the
    body lower-cased and folded (:func:`folded_text`), when the caller keeps it.
    """
    stems, words = marks
    stem = stemmer_for(language)

    def matches(word: str) -> bool:
        lower = word.lower()
        if fold(lower) in words:
            return True
        return lower not in POLISH_STOP_WORDS and stem(lower) in stems

    first = next((m for m in _candidates(body, marks, folded) if matches(m.group())), None)
    if first is None:
        return escape(body[:200].strip()) + ("…" if len(body) > 200 else "")
    start = max(0, first.start() - 60)
    start = body.rfind(" ", 0, start) + 1 if start else 0
    end = min(len(body), start + width)
    window = body[start:end]
    out, cursor = [], 0
    # the words that may match: folding each word was half the time
    for m in _candidates(window, marks, folded[start:end] if folded is not None else None):
        if matches(m.group()):
            out.append(escape(window[cursor : m.start()]))
            out.append(f"<mark>{escape(m.group())}</mark>")
            cursor = m.end()
    out.append(escape(window[cursor:]))
    text = " ".join("".join(out).split())
    return ("…" if start else "") + text + ("…" if end < len(body) else "")


def folded_text(body: str) -> str | None:
    """``body`` lower-cased and folded, letter for letter (None where that changes its length:
    its offsets would not be the body's). Kept with a hit's stored fields, it spares folding
    the text again for every answer that shows the hit (a tenth of the mixed load's time)."""
    folded = fold(body.lower())
    return folded if len(folded) == len(body) else None


def _candidates(body: str, marks: tuple[set[str], set[str]], folded: str | None = None):
    """The words of ``body`` that may match, in order: those holding the first three letters of
    a stem or word marked, found by one regular expression over the folded text instead of
    stemming every word up to the first match (a hit deep in a long body cost a third of a
    millisecond). The text is folded 2 KB at a time (cut at a space), as far as it is read:
    the first match is usually near the top. Every word, as before, where folding changed a
    piece's length."""
    finder = _finder(frozenset(marks[0]), frozenset(marks[1]))
    if finder is None:
        yield from _WORD.finditer(body)
        return
    if folded is not None:
        yield from (_WORD.match(body, m.start(), m.end()) for m in finder.finditer(folded))
        return
    start = 0
    while start < len(body):
        end = body.find(" ", start + 2048)
        end = len(body) if end < 0 else end
        folded = fold(body[start:end].lower())
        if len(folded) != end - start:
            yield from _WORD.finditer(body, start, end)
        else:
            yield from (_WORD.match(body, start + m.start(), start + m.end()) for m in finder.finditer(folded))
        start = end


_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=1024)
def _finder(stems: frozenset[str], words: frozenset[str]) -> re.Pattern | None:
    keys = {fold(text.lower())[:3] for text in stems | words if text}
    if not keys:
        return None
    return re.compile(r"\w*(?:" + "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) + r")\w*")


def did_you_mean(searcher, q: str) -> str | None:
    """The query with each unknown word replaced by the nearest known one (None: nothing to offer)."""
    words = re.findall(r"\w+", q.lower())
    if not words or len(words) > 6:
        return None
    corrector = searcher.corrector("body_folded")
    fixed = []
    for word in words:
        folded = fold(word)
        known = searcher.doc_frequency("body_folded", folded) > 0
        if known or len(word) < 4:
            fixed.append(word)
            continue
        # Words that share the first letter only: Whoosh measures the distance to every candidate
        # in Python, and every term of the index was 85 ms a query with a typo (issue 33);
        # people rarely mistype the first letter.
        options = corrector.suggest(folded, limit=1, maxdist=2, prefix=1)
        fixed.append(options[0] if options else word)
    suggestion = " ".join(fixed)
    return suggestion if suggestion != " ".join(words) else None
