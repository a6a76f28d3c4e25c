"""Figures beside a document: images kept in the repository, named by their content (issue 13).

Repository format (an extension of CONTRACT §1, documented in the README): a document's figures
live in ``documents/<ID>/`` as ``<git blob id>.<ext>``, and its Markdown points at them relative
to itself — ``![Flowchart](P-01/3f2a….png)`` — which git hosts' viewers show as well. Because the
name *is* the blob id, the Markdown blob that a signature binds (``Content: <blob sha>``) also
binds every figure it shows: a different picture is a different name, hence a different text.

Only these references are allowed: an image from anywhere else (a web address, another
document's folder, a path with ``..``) is refused when the text is saved and never rendered.
Pure functions: no git, no Flask.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .documents import DOCUMENTS_DIR
from .errors import Invalid, TooLarge

MAX_FIGURE_BYTES = 5 * 1024 * 1024
# Raster formats every browser and WeasyPrint show, told by their first bytes (a name can lie).
# SVG is left out on purpose: it can carry script.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
# Attachments (a form to fill in, a scanned record): linked, downloaded, never shown inline.
# PDF is told by its first bytes; the office formats are ZIP files, told by their extension.
ATTACHMENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}
MEDIA_TYPES = {**IMAGE_TYPES, **ATTACHMENT_TYPES}
_NAME = r"[0-9a-f]{40}\.(?:png|jpg|gif|webp|pdf|docx|xlsx|odt|ods)"
NAME_RE = re.compile(_NAME)
# An image in Markdown: ![alt](target "title") — the target up to whitespace or ")".
IMAGE_RE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
# A link to one of the document's own files: [Formularz](P-01/<blob id>.pdf).
FILE_LINK_RE = re.compile(rf"(?<!!)\[[^\]]*\]\(\s*<?([A-Z][A-Z0-9-]*/{_NAME})>?(?:\s+[\"'][^)]*[\"'])?\s*\)")


@dataclass(frozen=True)
class Figure:
    name: str  # <git blob id>.<ext>
    data: bytes

    @property
    def blob_id(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.name.rsplit(".", 1)[1]]

    @property
    def is_image(self) -> bool:
        return self.name.rsplit(".", 1)[1] in IMAGE_TYPES


def git_blob_id(data: bytes) -> str:
    """What ``git hash-object`` answers, computed here so a name is known before git sees it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def figure_kind(data: bytes) -> str | None:
    for magic, ext in _SIGNATURES:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def figure_from_bytes(data: bytes, original_name: str = "image") -> Figure:
    """A figure from an uploaded or extracted image; Invalid / TooLarge with a clear reason."""
    if len(data) > MAX_FIGURE_BYTES:
        raise TooLarge(
            "the image %(name)s is larger than %(limit)s MB",
            name=original_name,
            limit=MAX_FIGURE_BYTES // (1024 * 1024),
        )
    kind = figure_kind(data) or _attachment_kind(data, original_name)
    if kind is None:
        raise Invalid(
            "%(name)s is not a PNG, JPEG, GIF or WebP image nor a PDF, DOCX, XLSX, ODT or ODS file "
            "(convert drawings such as EMF or SVG to PNG)",
            name=original_name,
        )
    return Figure(f"{git_blob_id(data)}.{kind}", data)


def _attachment_kind(data: bytes, original_name: str) -> str | None:
    if data.startswith(b"%PDF-"):
        return "pdf"
    extension = original_name.rsplit(".", 1)[-1].lower() if "." in original_name else ""
    if extension in ATTACHMENT_TYPES and extension != "pdf" and data.startswith(b"PK\x03\x04"):
        return extension
    return None


def figure_path(doc_id: str, name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise Invalid("invalid figure name %(name)s", name=repr(name[:60]))
    return f"{DOCUMENTS_DIR}/{doc_id}/{name}"


def figure_folder(doc_id: str) -> str:
    return f"{DOCUMENTS_DIR}/{doc_id}"


def referenced_figures(markdown: str, doc_id: str) -> set[str]:
    """The files a text shows or links to beside it; Invalid for an image that is not one of its
    own figures, or a link to another document's files."""
    names = set()
    for match in FILE_LINK_RE.finditer(markdown):
        folder, _, name = match.group(1).partition("/")
        if folder != doc_id:
            raise Invalid("%(target)s is another document's file: attach it to this one", target=repr(match.group(1)))
        names.add(name)
    for match in IMAGE_RE.finditer(markdown):
        target = match.group(1)
        folder, _, name = target.partition("/")
        if folder != doc_id or not NAME_RE.fullmatch(name) or name.rsplit(".", 1)[1] not in IMAGE_TYPES:
            raise Invalid(
                "the image %(target)s is not one of this document's figures: add pictures with the editor's "
                "figure upload (only files kept beside the document may be shown)",
                target=repr(target[:80]),
            )
        names.add(name)
    return names
