"""Controlled documents as files: IDs, paths, YAML front matter and its validation.

Pure domain code: no git, no Flask. Everything a user can get wrong here raises
:class:`~docctl.errors.Invalid` with a message that names the field or line, and the checks
run *before* any value reaches git (an ID ends up in a ref name and a path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from .errors import DocctlError, Invalid, refuse_control_characters

# The safe loader, from libyaml when installed (about 10x faster): no arbitrary objects.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TYPES = ("policy", "procedure", "instruction", "form", "external")
DOCUMENTS_DIR = "documents"
MAX_ID_LENGTH = 32
REQUIRED_KEYS = ("id", "title", "type", "unit", "review_months")
# Revisions and dates come from release records (CONTRACT §1); a hand-edited copy would lie.
FORBIDDEN_KEYS = ("revision", "effective_date", "approved_by", "status")

_ID_RE = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")
_UNIT_RE = re.compile(r"[A-Z][A-Z0-9]{1,7}")


def validate_document_id(value: object) -> str:
    """Return ``value`` if it is a document ID (``P-05``, ``F-P06-01``), else raise Invalid.

    Upper-case letters, digits and single dashes, starting with a letter, at most 32
    characters. This also guarantees the ID can never look like a git option or a path.
    """
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH or not _ID_RE.fullmatch(value):
        raise Invalid(
            "invalid document ID %(value)s: use upper-case letters, digits and single dashes, "
            "starting with a letter, at most 32 characters (e.g. P-05)",
            value=repr(str(value)[:40]),
        )
    return value


def validate_unit_code(value: object) -> str:
    """Return a unit code (2–8 upper-case letters/digits, starting with a letter) or raise Invalid."""
    if not isinstance(value, str) or not _UNIT_RE.fullmatch(value):
        raise Invalid("invalid unit code %(value)s: 2–8 upper-case letters or digits", value=repr(str(value)[:20]))
    return value


def document_path(doc_id: str) -> str:
    """The repository path of a document: ``documents/<ID>.md`` (CONTRACT §1)."""
    return f"{DOCUMENTS_DIR}/{validate_document_id(doc_id)}.md"


# -- the canonical text form ------------------------------------------------------------------
# Browsers submit a textarea with CR+LF line endings (HTML requires it) and Word exports carry a
# BOM; stored as they come, every edit rewrote every line in permanent history (issue 17). Every
# entry point (forms, API, import, the merge of an update) stores text in one form: UTF-8 without
# BOM, LF line endings, no trailing blanks, one final newline.
_CONFLICT_OPEN = re.compile(r"<{7}(?: |$)")
_CONFLICT_CLOSE = re.compile(r">{7}(?: |$)")
_CONFLICT_SPLIT = re.compile(r"(?:={7}|\|{7}(?: .*)?)$")


def canonical_text(text: str) -> str:
    """``text`` in docctl's one stored form: LF endings, no BOM, trimmed line ends, final newline.

    Markdown's hard line break (two or more spaces after text) is kept as exactly two spaces,
    so trimming never changes how a document renders.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(map(_trim_line_end, text.split("\n")))
    return text.rstrip("\n") + "\n" if text.strip() else ""


def _trim_line_end(line: str) -> str:
    kept = line.rstrip(" \t")
    return kept + "  " if kept and line[len(kept) :].startswith("  ") else kept


def decode_text(data: bytes) -> str:
    """A stored document blob as text, shown and compared as if canonical.

    Blobs written before issue 17 may carry CR+LF; they stay in history as they are (history is
    evidence), but reading them through here keeps diffs, redlines and merges line-true.
    """
    return canonical_text(data.decode("utf-8"))


def is_canonical(data: bytes) -> bool:
    """Whether a stored blob is exactly in the canonical form (``verify`` reports the others)."""
    try:
        return data.decode("utf-8") == decode_text(data)
    except UnicodeDecodeError:
        return False


def conflict_marker_lines(text: str) -> list[int]:
    """1-based numbers of the lines that are merge-conflict markers (``<<<<<<<``, ``=======``,
    ``>>>>>>>``). A ``=======`` line counts only inside a ``<<<<<<<`` block: alone it is a
    Markdown heading underline."""
    found: list[int] = []
    inside = False
    for number, line in enumerate(text.split("\n"), start=1):
        if _CONFLICT_OPEN.match(line):
            inside = True
            found.append(number)
        elif _CONFLICT_CLOSE.match(line):
            inside = False
            found.append(number)
        elif inside and _CONFLICT_SPLIT.match(line):
            found.append(number)
    return found


def refuse_conflict_markers(text: str, what: str = "the text") -> None:
    """Raise Invalid naming the lines when ``text`` still holds unresolved conflict markers."""
    lines = conflict_marker_lines(text)
    if lines:
        shown = ", ".join(str(n) for n in lines[:12]) + (" …" if len(lines) > 12 else "")
        raise Invalid(
            "%(what)s still has merge-conflict markers on line(s) %(shown)s: keep the wording you want, "
            "delete the <<<<<<<, ======= and >>>>>>> lines, then save",
            detail={"conflict_lines": lines},
            what=what,
            shown=shown,
        )


@dataclass(frozen=True)
class Metadata:
    """The front matter of one document revision."""

    id: str
    title: str
    type: str
    unit: str
    review_months: int
    extra: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        data = {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "unit": self.unit,
            "review_months": self.review_months,
        }
        data.update(self.extra)
        return data


@dataclass(frozen=True)
class ParsedDocument:
    meta: Metadata
    body: str


def split_front_matter(text: str) -> tuple[str, str, int]:
    """Split ``---\\nYAML\\n---\\nbody`` into (yaml, body, line where the body starts)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        raise Invalid("line 1: a document must start with YAML front matter between '---' lines")
    for number, line in enumerate(lines[1:], start=2):
        if line.rstrip() == "---":
            return "\n".join(lines[1 : number - 1]), "\n".join(lines[number:]), number + 1
    raise Invalid("front matter is not closed: add a line '---' after the metadata")


def parse_document(text: str, *, units: dict | None = None) -> ParsedDocument:
    """Parse and validate a document. All field problems are reported at once.

    ``units`` (code → name) checks the owning unit against the policy when given.
    """
    front, body, _ = split_front_matter(text)
    try:
        data = yaml.load(front, Loader=_LOADER) if front.strip() else {}  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        # Point at where the broken construct starts (context), else where parsing gave up.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}: " if mark is not None else ""
        raise Invalid(
            "%(where)sfront matter is not valid YAML (%(exc)s)", where=where, exc=getattr(exc, "problem", exc)
        ) from None
    if not isinstance(data, dict):
        raise Invalid("front matter must be a mapping of keys to values")
    return ParsedDocument(validate_metadata(data, units=units), body.lstrip("\n"))


def validate_metadata(data: dict, *, units: dict | None = None) -> Metadata:
    """Check a front matter mapping; raise Invalid listing every problem found."""
    problems: list[str] = []
    for key in REQUIRED_KEYS:
        if key not in data or data[key] in (None, ""):
            problems.append(f"'{key}' is missing")
    for key in FORBIDDEN_KEYS:
        if key in data:
            problems.append(f"'{key}' must not be set by hand: it comes from the release records")
    doc_id = data.get("id")
    if doc_id is not None:
        try:
            validate_document_id(doc_id)
        except Invalid as exc:
            problems.append(exc.message)
    title = data.get("title")
    if title is not None and (
        not isinstance(title, str) or len(title) > 200 or not title.strip() or len(title.splitlines()) > 1
    ):
        problems.append("'title' must be one line of text, at most 200 characters")
    elif isinstance(title, str):
        try:
            refuse_control_characters(title, "'title'")
        except Invalid as exc:
            problems.append(exc.message)
    doc_type = data.get("type")
    if doc_type is not None and doc_type not in TYPES:
        problems.append(f"'type' must be one of {', '.join(TYPES)}")
    unit = data.get("unit")
    if unit is not None:
        if not isinstance(unit, str) or not _UNIT_RE.fullmatch(unit):
            problems.append("'unit' must be a unit code such as OR")
        elif units is not None and unit not in units:
            problems.append(f"'unit' {unit} is not in the policy's units ({', '.join(sorted(units))})")
    months = data.get("review_months")
    if months is not None and (isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120):
        problems.append("'review_months' must be a whole number of months from 1 to 120")
    if problems:
        raise Invalid("front matter: " + "; ".join(problems), detail={"problems": problems})
    extra = {k: v for k, v in data.items() if k not in REQUIRED_KEYS}
    return Metadata(doc_id, title.strip(), doc_type, unit, months, extra)


_FRONT_MATTER = re.compile(rb"\A---\n(.*?)\n---\n", re.S)
_PLAIN_FIELD = re.compile(rb"^(id|title|type|unit|review_months): ([^'\"&*!|>%@`{}\[\]#\s][^\n]*)$", re.M)


def quick_metadata(data: bytes) -> Metadata | None:
    """The metadata of a stored text, for rebuilds over a whole history.

    Front matter as :func:`compose_document` writes it (one plain scalar per line; YAML quotes
    anything it would otherwise misread) is read directly — parsing 40,000 texts as YAML cost
    6 s of a rebuild; anything else goes through :func:`parse_document`. None when invalid.
    """
    front = _FRONT_MATTER.match(data)
    fields = dict(_PLAIN_FIELD.findall(front.group(1))) if front else {}
    if len(fields) == 5 and fields[b"review_months"].isdigit() and _plain_string(fields[b"title"]):
        try:
            return Metadata(
                fields[b"id"].decode(),
                fields[b"title"].decode().rstrip(),
                fields[b"type"].decode(),
                fields[b"unit"].decode(),
                int(fields[b"review_months"]),
            )
        except UnicodeDecodeError:
            return None
    try:
        return parse_document(data.decode("utf-8")).meta
    except (DocctlError, UnicodeDecodeError):
        return None


def _plain_string(value: bytes) -> bool:
    """Whether YAML reads this unquoted scalar as exactly this text (else: the full parser)."""
    if b": " in value or b" #" in value or value.lower() in _YAML_WORDS:
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


_YAML_WORDS = {b"null", b"~", b"true", b"false", b"yes", b"no", b"on", b"off", b"y", b"n"}


def compose_document(meta: Metadata, body: str) -> str:
    """Write front matter and body back into one file text (stable key order)."""
    front = yaml.safe_dump(meta.as_dict(), allow_unicode=True, sort_keys=False).strip()
    return canonical_text(f"---\n{front}\n---\n\n{canonical_text(body).strip()}\n")
