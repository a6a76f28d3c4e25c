"""Word, ODT and Markdown files converted to docctl documents (issue 13).

An office adopting docctl has its procedures as .docx and .odt files, approved on paper. This
module turns one file into what a change needs — Markdown text, figures, and the document's
control data — and says plainly what it guessed and what it could not keep:

- conversion by pandoc (the binary shipped in the ``pypandoc-binary`` wheel: nothing to install),
  read as pandoc's document tree so that tables and figures can be repaired before Markdown is
  written: merged cells are split (with a warning), multi-paragraph cells joined, images kept;
- the control data (ID, title, type, unit, effective date, who prepared and approved on paper)
  from a mapping file row, else from the document's own header table ("Symbol / Opracował /
  Zatwierdził / Obowiązuje od"), else guessed from the file name and the first heading — each
  guess named in the report.

Pure conversion: no git, no Flask. :mod:`docctl.importer` records the result as changes.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..core.documents import TYPES, validate_document_id
from ..core.errors import Invalid
from ..core.figures import Figure, figure_from_bytes

# Where figures are pointed at until the document ID is known (then "<ID>/").
FIGURES_PLACEHOLDER = "docctl-figures"
SUFFIXES = {".docx": "docx", ".odt": "odt", ".md": "markdown", ".markdown": "markdown"}
# Markdown that docctl's renderer reads back: pipe tables, footnotes, lists nested by four spaces
# (Python-Markdown's rule), no raw HTML (it would show as text), no pandoc-only attribute syntax.
_MARKDOWN_OUT = (
    "markdown+four_space_rule-raw_html-native_divs-native_spans-fenced_divs-bracketed_spans-header_attributes"
    "-link_attributes-raw_attribute-grid_tables-multiline_tables-simple_tables-smart-implicit_figures"
)

# Labels of a header table, Polish and English, normalized (lower case, no diacritics or colon).
_LABELS = {
    "id": ("symbol", "symbol dokumentu", "numer", "nr", "oznaczenie", "id", "document id", "document", "number"),
    "title": ("tytul", "nazwa", "nazwa dokumentu", "title"),
    "type": ("rodzaj", "typ", "rodzaj dokumentu", "type"),
    "unit": ("komorka", "jednostka", "wydzial", "komorka organizacyjna", "owner", "unit", "owning unit"),
    "prepared_by": ("opracowal", "opracowala", "prepared by", "author"),
    "approved_by": ("zatwierdzil", "zatwierdzila", "approved by", "approver"),
    "effective_date": ("obowiazuje od", "data wejscia w zycie", "wchodzi w zycie", "effective from", "effective date"),
    "revision": ("wydanie", "wersja", "rewizja", "revision", "edition", "issue"),
    "paper_record": ("zarzadzenie", "podstawa", "podstawa zatwierdzenia", "approval record", "approved in"),
}
_TYPE_WORDS = {
    "procedura": "procedure",
    "procedure": "procedure",
    "instrukcja": "instruction",
    "instruction": "instruction",
    "formularz": "form",
    "form": "form",
    "polityka": "policy",
    "policy": "policy",
    "zewnetrzny": "external",
    "external": "external",
}
_TYPE_BY_PREFIX = {"P": "procedure", "IR": "instruction", "I": "instruction", "F": "form", "PL": "policy"}
_MAPPING_COLUMNS = (
    *("file", "id", "title", "type", "unit", "effective_date", "review_months"),
    *("prepared_by", "approved_by", "paper_record"),  # for --migrate
)


@dataclass
class ImportPlan:
    """One file's conversion and control data, with what was guessed and what was lost."""

    source: Path
    markdown: str = ""
    doc_id: str | None = None
    title: str | None = None
    doc_type: str | None = None
    unit: str | None = None
    effective_date: date | None = None
    review_months: int | None = None
    prepared_by: str | None = None
    approved_by: str | None = None
    paper_revision: str | None = None
    paper_record: str | None = None
    figures: list[Figure] = field(default_factory=list)
    guesses: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None

    def text_for(self, doc_id: str) -> str:
        """The Markdown as recorded: figures pointed at the document's own folder."""
        return self.markdown.replace(f"]({FIGURES_PLACEHOLDER}/", f"]({doc_id}/")

    @property
    def ready(self) -> bool:
        return self.error is None and not self.missing

    def as_json(self) -> dict:
        return {
            "file": str(self.source),
            "id": self.doc_id,
            "title": self.title,
            "type": self.doc_type,
            "unit": self.unit,
            "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            "prepared_by": self.prepared_by,
            "approved_by": self.approved_by,
            "paper_record": self.paper_record,
            "figures": [f.name for f in self.figures],
            "guesses": self.guesses,
            "warnings": self.warnings,
            "missing": self.missing,
            "error": self.error,
            "ready": self.ready,
        }


def read_mapping(path: Path) -> dict[str, dict[str, str]]:
    """The mapping CSV: a ``file`` column (name as given, or its base name) and any of ``id``,
    ``title``, ``type``, ``unit``, ``effective_date``, ``review_months``; ``;`` or ``,`` separated
    (a spreadsheet saved in Poland uses ``;``)."""
    text = path.read_text(encoding="utf-8-sig")
    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "file", delimiters=",;")
    rows = list(csv.DictReader(text.splitlines(), dialect=dialect))
    if not rows or "file" not in (rows[0].keys() if rows else ()):
        raise Invalid("the mapping file needs a header row with a 'file' column")
    unknown = set(rows[0].keys()) - set(_MAPPING_COLUMNS)
    if unknown:
        raise Invalid(
            "the mapping file has unknown columns %(columns)s (known: %(known)s)",
            columns=", ".join(sorted(unknown)),
            known=", ".join(_MAPPING_COLUMNS),
        )
    return {row["file"].strip(): {k: (v or "").strip() for k, v in row.items() if k != "file"} for row in rows}


def plan_import(
    source: Path,
    *,
    mapping: dict[str, dict[str, str]] | None = None,
    units: dict[str, str] | None = None,
    body_only: bool = False,
) -> ImportPlan:
    """Convert ``source`` and work out its control data; never raises for a bad file (its plan
    carries the error, so one broken file does not stop a batch of a hundred). ``body_only``:
    the Word round trip, where the control data stay the draft's own — the text is kept whole
    (a first heading repeating the title included) and no guess about the header is made."""
    plan = ImportPlan(source)
    kind = SUFFIXES.get(source.suffix.lower())
    if kind is None:
        plan.error = f"not a .docx, .odt or .md file: {source.name}"
        return plan
    try:
        if kind == "markdown":
            plan.markdown = source.read_text(encoding="utf-8-sig")
            header = {}
        else:
            header = _convert(source, kind, plan)
    except (OSError, RuntimeError, ValueError) as exc:
        plan.error = f"{source.name} could not be converted: {str(exc).strip().splitlines()[-1][:300]}"
        return plan
    if body_only:
        if not plan.markdown.strip():
            plan.error = f"{source.name} has no text"
        return plan
    row = (mapping or {}).get(str(source)) or (mapping or {}).get(source.name)
    _control_data(plan, row or {}, header, units or {})
    return plan


# -- conversion -------------------------------------------------------------------------------
def _convert(source: Path, kind: str, plan: ImportPlan) -> dict[str, str]:
    import pypandoc  # imported here: the web and CLI start without loading it

    with tempfile.TemporaryDirectory(prefix="docctl-import-") as media:
        tree = json.loads(
            pypandoc.convert_file(str(source), "json", format=kind, extra_args=[f"--extract-media={media}"])
        )
        blocks = tree["blocks"]
        header = _take_header_table(blocks)
        _repair_tables(blocks, plan)
        _take_figures(blocks, Path(media), plan)
        plan.markdown = pypandoc.convert_text(
            json.dumps(tree), _MARKDOWN_OUT, format="json", extra_args=["--wrap=none"]
        )
    if "[TABLE]" in plan.markdown:
        plan.warnings.append("a table could not be written as Markdown and was left out ([TABLE] in the text)")
    plan.markdown = _tidy(plan.markdown)
    return header


def _tidy(markdown: str) -> str:
    # pandoc indents list items by four ("1.  item"); escaped quotes and non-breaking-space
    # paragraphs are Word artefacts, not text.
    markdown = re.sub(r"^\s*&nbsp;\s*$\n?", "", markdown, flags=re.M)
    markdown = re.sub(r"\n{3,}", "\n\n", markdown)
    return markdown.strip() + "\n"


def _plain_text(inlines) -> str:
    out = []
    for node in inlines:
        t = node["t"]
        if t == "Str":
            out.append(node["c"])
        elif t in ("Space", "SoftBreak", "LineBreak"):
            out.append(" ")
        elif t in ("Emph", "Strong", "Underline", "SmallCaps", "Strikeout", "Superscript", "Subscript"):
            out.append(_plain_text(node["c"]))
        elif t in ("Link", "Span", "Quoted"):
            out.append(_plain_text(node["c"][1]))
        elif t == "Code":
            out.append(node["c"][1])
    return "".join(out).strip()


def _cell_text(cell) -> str:
    return " ".join(_plain_text(b["c"]) for b in cell[4] if b["t"] in ("Plain", "Para")).strip()


def _table_rows(table) -> list[list]:
    _attr, _caption, _colspecs, head, bodies, _foot = table["c"]
    rows = list(head[1])
    for body in bodies:
        rows += list(body[2]) + list(body[3])
    return rows


def normalized_label(text: str) -> str:
    text = text.replace("ł", "l").replace("Ł", "L")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"\s+", " ", text.strip().rstrip(":").strip().lower())


def _label_key(text: str) -> str | None:
    label = normalized_label(text)
    for key, words in _LABELS.items():
        if label in words:
            return key
    return None


def _take_header_table(blocks: list) -> dict[str, str]:
    """The document's control table among its first blocks (label | value rows, or a row of labels
    over a row of values), removed from the text: docctl shows its own control header."""
    for index, block in enumerate(blocks[:4]):
        if block["t"] != "Table":
            continue
        found: dict[str, str] = {}
        rows = [[_cell_text(c) for c in row[1]] for row in _table_rows(block)]
        for row in rows:  # label | value | label | value …
            for i in range(0, len(row) - 1, 2):
                key = _label_key(row[i])
                if key and row[i + 1]:
                    found.setdefault(key, row[i + 1])
        for upper, lower in zip(rows, rows[1:], strict=False):  # labels above values
            for label, value in zip(upper, lower, strict=False):
                key = _label_key(label)
                if key and value:
                    found.setdefault(key, value)
        if len(found) >= 2:
            del blocks[index]
            return found
    return {}


def _repair_tables(blocks: list, plan: ImportPlan) -> None:
    """Pipe tables have no merged cells and one line per cell: split the merges (the text goes in
    the first cell), join a cell's paragraphs — and say so."""
    merged = joined = 0
    for table in _walk_tables(blocks):
        _attr, _caption, colspecs, head, bodies, foot = table["c"]
        width = len(colspecs)
        for rows in [head[1], foot[1], *[b[2] for b in bodies], *[b[3] for b in bodies]]:
            pending: dict[int, int] = {}  # column -> rows still covered by a rowspan above
            for row in rows:
                cells, out, column = row[1], [], 0
                queue = list(cells)
                while column < width:
                    if pending.get(column, 0) > 0:
                        pending[column] -= 1
                        out.append(_empty_cell())
                        column += 1
                        continue
                    if not queue:
                        out.append(_empty_cell())
                        column += 1
                        continue
                    cell = queue.pop(0)
                    rowspan, colspan = cell[2], cell[3]
                    if rowspan > 1 or colspan > 1:
                        merged += 1
                    for extra in range(colspan):
                        if rowspan > 1:
                            pending[column + extra] = rowspan - 1
                    cell[2] = cell[3] = 1
                    if len(cell[4]) > 1 or any(b["t"] not in ("Plain", "Para") for b in cell[4]):
                        joined += 1
                        cell[4] = [{"t": "Plain", "c": _joined_inlines(cell[4])}]
                    out.append(cell)
                    out += [_empty_cell() for _ in range(colspan - 1)]
                    column += colspan
                row[1] = out[:width]
    if merged:
        plan.warnings.append(f"{merged} merged table cell(s) split: the text stays in the first cell")
    if joined:
        plan.warnings.append(f"{joined} table cell(s) with several paragraphs or a list joined into one line")


def _walk_tables(blocks: list):
    for block in blocks:
        t = block.get("t")
        if t == "Table":
            yield block
        elif t in ("BlockQuote", "Div"):
            yield from _walk_tables(block["c"] if t == "BlockQuote" else block["c"][1])
        elif t in ("BulletList", "OrderedList"):
            items = block["c"] if t == "BulletList" else block["c"][1]
            for item in items:
                yield from _walk_tables(item)


def _empty_cell() -> list:
    return [["", [], []], {"t": "AlignDefault"}, 1, 1, []]


def _joined_inlines(blocks: list) -> list:
    words: list = []
    for block in blocks:
        text = _plain_text(block["c"]) if block["t"] in ("Plain", "Para") else _block_text(block)
        if text:
            if words:
                words.append({"t": "Str", "c": ";"})
                words.append({"t": "Space"})
            words.append({"t": "Str", "c": text})
    return words


def _block_text(block) -> str:
    if block["t"] in ("BulletList", "OrderedList"):
        items = block["c"] if block["t"] == "BulletList" else block["c"][1]
        return "; ".join(" ".join(_block_text(b) for b in item) for item in items)
    if block["t"] in ("Plain", "Para"):
        return _plain_text(block["c"])
    return ""


def _take_figures(blocks: list, media: Path, plan: ImportPlan) -> None:
    """Images extracted by pandoc become figures named by their content; the text points at them
    relative to the document (``P-01/<hash>.png``), which a git host's viewer also shows."""
    by_path: dict[str, Figure] = {}

    def visit(node):
        if isinstance(node, dict):
            if node.get("t") == "Image":
                target = node["c"][2]
                path = Path(target[0])
                if target[0] not in by_path:
                    try:
                        figure = figure_from_bytes(path.read_bytes(), path.name)
                    except (OSError, Invalid) as exc:
                        plan.warnings.append(f"image {path.name} left out: {getattr(exc, 'message', exc)}")
                        by_path[target[0]] = None
                    else:
                        by_path[target[0]] = figure
                        plan.figures.append(figure)
                figure = by_path[target[0]]
                if figure is None:
                    node["t"], node["c"] = "Str", "[image]"
                else:
                    node["c"][2] = [f"{FIGURES_PLACEHOLDER}/{figure.name}", target[1]]
                return
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(blocks)
    del media  # the temporary folder goes with the conversion


# -- control data -----------------------------------------------------------------------------
def _control_data(plan: ImportPlan, row: dict[str, str], header: dict[str, str], units: dict[str, str]) -> None:
    first_heading = re.search(r"^#\s+(.+)$", plan.markdown, flags=re.M)

    def pick(key: str, guess: str | None = None, why: str = "") -> str | None:
        if row.get(key):
            return row[key]
        if header.get(key):
            plan.guesses.append(f"{key} from the header table: {header[key]!r}")
            return header[key]
        if guess:
            plan.guesses.append(f"{key} {why}: {guess!r}")
            return guess
        return None

    raw_id = pick("id", _id_from_name(plan.source.stem), "from the file name")
    if raw_id:
        candidate = raw_id.strip().upper().replace(" ", "-").replace("/", "-").replace("_", "-")
        try:
            plan.doc_id = validate_document_id(candidate)
        except Invalid:
            plan.warnings.append(f"{raw_id!r} is not a valid document ID")
    title = pick("title", first_heading.group(1).strip() if first_heading else None, "from the first heading")
    plan.title = title
    if title and first_heading and first_heading.group(1).strip() == title:
        # The title is in the control header; the same words again as the first heading repeat it.
        plan.markdown = (plan.markdown[: first_heading.start()] + plan.markdown[first_heading.end() :]).lstrip()
        plan.markdown = plan.markdown or "\n"
    plan.doc_type = _type(pick("type", _type_guess(plan, title), "from the ID or the title"), plan)
    plan.unit = _unit(pick("unit"), units, plan)
    effective = pick("effective_date")
    if effective:
        plan.effective_date = _date(effective, plan)
    if row.get("review_months"):
        try:
            plan.review_months = int(row["review_months"])
        except ValueError:
            plan.warnings.append(f"review_months {row['review_months']!r} is not a number")
    plan.prepared_by = row.get("prepared_by") or header.get("prepared_by")
    plan.approved_by = row.get("approved_by") or header.get("approved_by")
    plan.paper_revision = header.get("revision")
    plan.paper_record = row.get("paper_record") or header.get("paper_record")
    for key, value in (("id", plan.doc_id), ("title", plan.title), ("type", plan.doc_type), ("unit", plan.unit)):
        if not value:
            plan.missing.append(key)
    if not plan.markdown.strip():
        plan.error = f"{plan.source.name} has no text"


def _id_from_name(stem: str) -> str | None:
    match = re.match(r"([A-Za-z]{1,4}[-_ ]?\d{1,3}(?:[-_]\d{1,3})*)", stem)
    return match.group(1).upper().replace("_", "-").replace(" ", "-") if match else None


def _type_guess(plan: ImportPlan, title: str | None) -> str | None:
    if plan.doc_id:
        prefix = plan.doc_id.split("-")[0]
        if prefix in _TYPE_BY_PREFIX:
            return _TYPE_BY_PREFIX[prefix]
    if title:
        first = normalized_label(title.split()[0]) if title.split() else ""
        return _TYPE_WORDS.get(first)
    return None


def _type(value: str | None, plan: ImportPlan) -> str | None:
    if not value:
        return None
    word = normalized_label(value)
    found = value if value in TYPES else _TYPE_WORDS.get(word.split()[0] if word else "")
    if not found:
        plan.warnings.append(f"type {value!r} is not one of {', '.join(TYPES)}")
    return found


def _unit(value: str | None, units: dict[str, str], plan: ImportPlan) -> str | None:
    if not value:
        return None
    if value.upper() in units:
        return value.upper()
    for code, name in units.items():  # the unit's name written out, as on paper
        if normalized_label(name) == normalized_label(value):
            plan.guesses.append(f"unit {code} from its name {value!r}")
            return code
    plan.warnings.append(f"unit {value!r} is not in the policy's units ({', '.join(sorted(units)) or 'none'})")
    return None


def _date(value: str, plan: ImportPlan) -> date | None:
    value = value.strip()
    for pattern, order in ((r"(\d{4})-(\d{1,2})-(\d{1,2})", "ymd"), (r"(\d{1,2})[./](\d{1,2})[./](\d{4})", "dmy")):
        match = re.fullmatch(pattern + r"\s*(?:r\.?)?", value)
        if match:
            a, b, c = (int(g) for g in match.groups())
            try:
                return date(a, b, c) if order == "ymd" else date(c, b, a)
            except ValueError:
                break
    plan.warnings.append(f"effective date {value!r} not understood (use YYYY-MM-DD or DD.MM.YYYY)")
    return None
