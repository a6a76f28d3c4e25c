"""A draft to Word and back (issue 32, item 2): office staff edit a revision in Word, docctl keeps
the text as written.

Out: the draft's body through pandoc to .docx, with the control header as its first table (the
labels the importer reads back: Symbol, Tytuł, Rodzaj, Komórka, Wydanie) and the change record
(karta zmian) under a heading of its own at the end, figures embedded.

Back: the .docx through the importer (tables repaired, figures extracted, the header table taken
off), the change record cut off, and then the text *mapped back onto the draft paragraph by
paragraph*: a paragraph whose words did not change keeps its exact lines from the draft (pandoc
rewraps, escapes and renumbers as it pleases), so one word changed in Word changes only the lines
of its paragraph in git.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import Invalid, NotFound
from ..core.figures import Figure
from .conversion import plan_import

RECORD_HEADING = "Karta zmian (docctl)"
_WORDS = re.compile(r"[\w%§]+", re.UNICODE)


@dataclass
class WordBack:
    markdown: str  # the draft's body with the edits of the Word file
    figures: list[Figure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changed_paragraphs: int = 0


def to_docx(body: str, header: dict[str, str], record: list[list[str]], figures: dict[str, bytes]) -> bytes:
    """The .docx of a draft or revision: ``header`` (label → value), the body, the change record
    (rows of cells, the first row the column names); ``figures``: the files the body names."""
    import pypandoc  # imported here: the web and CLI start without loading it

    table = "| | |\n|---|---|\n" + "".join(f"| {_cell(k)} | {_cell(v)} |\n" for k, v in header.items())
    text = f"{table}\n{body.rstrip()}\n"
    if record:
        rows = [f"| {' | '.join(_cell(c) for c in row)} |" for row in record]
        rows.insert(1, "|" + "---|" * len(record[0]))
        text += f"\n# {RECORD_HEADING}\n\n" + "\n".join(rows) + "\n"
    with tempfile.TemporaryDirectory(prefix="docctl-word-") as folder:
        for name, data in figures.items():
            target = Path(folder) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        out = Path(folder) / "draft.docx"
        pypandoc.convert_text(
            # a figure alone in its paragraph stays an image in a paragraph: pandoc's implicit
            # figure would add its alt text as a caption paragraph, which comes back as text
            text,
            "docx",
            format="markdown-implicit_figures",
            outputfile=str(out),
            extra_args=[f"--resource-path={folder}"],
        )
        return out.read_bytes()


def from_docx(data: bytes, draft_body: str, doc_id: str) -> WordBack:
    """The body of an edited .docx mapped back onto ``draft_body`` (see the module's docstring)."""
    if not data.startswith(b"PK"):
        raise Invalid("this is not a Word (.docx) file")
    with tempfile.TemporaryDirectory(prefix="docctl-word-") as folder:
        source = Path(folder) / "edited.docx"
        source.write_bytes(data)
        plan = plan_import(source, body_only=True)
    if plan.error:
        raise Invalid("the Word file could not be read: %(error)s", error=plan.error)
    text = plan.text_for(doc_id)
    cut = re.search(rf"^#+ {re.escape(RECORD_HEADING)}\s*$", text, flags=re.M)
    if cut:
        text = text[: cut.start()]
    merged, changed = map_back(draft_body, text)
    return WordBack(merged, plan.figures, plan.warnings, changed)


def map_back(original: str, edited: str) -> tuple[str, int]:
    """``edited`` with every paragraph whose words equal one of ``original``'s written as in
    ``original``; returns (text, paragraphs changed)."""
    before, after = _blocks(original), _blocks(edited)
    keys_before, keys_after = [_words(b) for b in before], [_words(b) for b in after]
    out: list[str] = []
    changed = 0
    matcher = difflib.SequenceMatcher(a=keys_before, b=keys_after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += before[i1:i2]
        elif tag == "replace" and i2 - i1 == j2 - j1:  # paragraphs edited in place: line by line
            out += [_merge_lines(old, new) for old, new in zip(before[i1:i2], after[j1:j2], strict=True)]
            changed += i2 - i1
        else:
            out += after[j1:j2]
            changed += max(i2 - i1, j2 - j1)
    return "\n\n".join(out).rstrip() + "\n", changed


_ITEM = re.compile(r"^(\s*(?:\d+[.)]|[-*+])\s+)(.*)$")


def _merge_lines(old: str, new: str) -> str:
    """One edited paragraph: the lines (list items, table rows) whose words did not change kept
    as written; a changed list item keeps its marker as written."""
    before, after = old.split("\n"), new.split("\n")
    matcher = difflib.SequenceMatcher(a=[_words(x) for x in before], b=[_words(x) for x in after], autojunk=False)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += before[i1:i2]
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for was, now in zip(before[i1:i2], after[j1:j2], strict=True):
                marker, item = _ITEM.match(was), _ITEM.match(now)
                out.append(marker.group(1) + item.group(2) if marker and item else now)
        else:
            out += after[j1:j2]
    return "\n".join(out)


def _blocks(text: str) -> list[str]:
    return [block.strip("\n") for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


def _words(block: str) -> tuple[str, ...]:
    """What a paragraph says, whatever the Markdown around it: its words in order (numbers of an
    ordered list and table rules aside)."""
    block = re.sub(r"(?m)^\s*\d+[.)]\s+", "1. ", block)
    return tuple(word.lower() for word in _WORDS.findall(block.replace("\\", "")))


def _cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def change_to_docx(workflow, catalog, number: int) -> bytes:
    """``GET /api/v1/changes/<N>/docx``: the change's text as Word, with the control header and
    the document's change record so far."""
    from ..core.documents import parse_document, split_front_matter

    change = workflow.get(number)
    text = workflow.content(change)
    if not text:
        raise Invalid("change %(number)s has no text (a withdrawal)", number=number)
    meta = parse_document(text).meta
    body = split_front_matter(text)[1]
    header = {
        "Symbol": meta.id,
        "Tytuł": meta.title,
        "Rodzaj": meta.type,
        "Komórka": meta.unit,
        "Wydanie": str((change.base_revision or 0) + 1),
    }
    record = [["Wydanie", "Obowiązuje od", "Przyczyna zmiany", "Opracował", "Zatwierdził"]]
    try:
        revisions = catalog.revisions(meta.id)
    except NotFound:  # a new document has no record yet
        revisions = []
    for rev in sorted(revisions, key=lambda r: r.revision):
        signers = ", ".join(s.name for s in rev.signatures)
        record.append([str(rev.revision), str(rev.effective_date), rev.reason, rev.prepared_by, signers])
    figures = {}
    folder = f"documents/{meta.id}/"
    for name in workflow.figures_of(change):
        data = workflow.store.read_file(change.head, folder + name)
        figures[f"{meta.id}/{name}"] = data
    return to_docx(body, header, record if len(record) > 1 else [], figures)


def docx_to_change(workflow, person, number: int, data: bytes, expected_head: str):
    """``PUT /api/v1/changes/<N>/docx?head=``: an edited Word file saved as the draft's new text,
    mapped back paragraph by paragraph; a stale head is a 409 like the text editor's."""
    from ..core.documents import split_front_matter

    change = workflow.get(number)
    workflow.ensure_may_edit(person, change)  # who may not edit is told so before the file is read
    text = workflow.content(change)
    if not text:
        raise Invalid("change %(number)s has no text (a withdrawal)", number=number)
    front, body, _ = split_front_matter(text)
    back = from_docx(data, body, change.doc_id)
    edited = f"---\n{front}\n---\n{back.markdown}"
    return workflow.edit(person, number, markdown=edited, expected_head=expected_head, figures=back.figures), back
