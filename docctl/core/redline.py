"""What changed between two revisions: a word-level redline for people, a unified diff for tools.

The redline diffs line by line first and then word by word inside changed blocks, so long
documents stay fast (difflib on whole-document word lists is quadratic in the worst case).
All text is HTML-escaped: whatever either revision contains comes out inert.
"""

from __future__ import annotations

import difflib
import re
from html import escape

_TOKENS = re.compile(r"\s+|[^\s]+")


def _words(text: str) -> list[str]:
    return _TOKENS.findall(text)


def _word_diff(old: str, new: str, out: list[str], stats: dict) -> None:
    """Diff words; changes separated only by spaces merge into one deletion + one insertion."""
    a, b = _words(old), _words(new)
    deleted: list[str] = []
    inserted: list[str] = []
    spaces: list[str] = []  # whitespace seen between changes; joins them only if another follows

    def flush() -> None:
        if deleted:
            out.append(f'<del class="redline-del">{escape("".join(deleted))}</del>')
        if inserted:
            out.append(f'<ins class="redline-ins">{escape("".join(inserted))}</ins>')
        out.append(escape("".join(spaces)))
        deleted.clear()
        inserted.clear()
        spaces.clear()

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            same = "".join(a[i1:i2])
            if same.isspace() and (deleted or inserted):
                spaces.append(same)
                continue
            flush()
            out.append(escape(same))
            continue
        if spaces:
            deleted.extend(spaces)
            inserted.extend(spaces)
            spaces.clear()
        if op in ("delete", "replace"):
            deleted.extend(a[i1:i2])
            stats["deleted_words"] += sum(1 for w in a[i1:i2] if not w.isspace())
        if op in ("insert", "replace"):
            inserted.extend(b[j1:j2])
            stats["inserted_words"] += sum(1 for w in b[j1:j2] if not w.isspace())
    flush()


def _redline(old: str, new: str) -> tuple[str, dict]:
    stats = {"inserted_words": 0, "deleted_words": 0}
    out: list[str] = []
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
        else:
            _word_diff("".join(a[i1:i2]), "".join(b[j1:j2]), out, stats)
    return '<div class="redline">' + "".join(out) + "</div>", stats


def redline_html(old: str, new: str) -> str:
    """Word-level diff as HTML: <del class="redline-del"> and <ins class="redline-ins">."""
    return _redline(old, new)[0]


def diff_stats(old: str, new: str) -> dict:
    return _redline(old, new)[1]


def unified_diff(old: str, new: str, *, from_label: str, to_label: str, context: int = 3) -> str:
    """Plain-text unified diff, like ``git diff``."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=from_label, tofile=to_label, n=context
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
