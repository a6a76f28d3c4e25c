"""Word and ODT files built for the import tests: by pandoc itself from Markdown (real
numbering, footnotes, merged cells and an embedded image, as Word writes them)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

HEADER_ROWS = (
    ("Symbol", "{doc_id}"),
    ("Tytuł", "{title}"),
    ("Komórka", "{unit}"),
    ("Opracował", "Jan Kowalski"),
    ("Zatwierdził", "Anna Nowak"),
    ("Obowiązuje od", "{effective}"),
)


def header_table(**values: str) -> str:
    """The control table on a paper procedure's first page, as a headerless grid table."""
    rows = [(label, value.format(**values)) for label, value in HEADER_ROWS]
    left, right = max(len(r[0]) for r in rows) + 2, max(len(r[1]) for r in rows) + 2
    rule = "+" + "-" * left + "+" + "-" * right + "+\n"
    return rule + "".join(f"| {a.ljust(left - 1)}| {b.ljust(right - 1)}|\n" + rule for a, b in rows)


BODY = """
## 1. Cel

Procedura określa zasady **planowania** i *przeprowadzania* audytów wewnętrznych.[^1]

## 2. Zakres

1. Planowanie audytów
    1. program audytów na rok
    2. plan pojedynczego audytu
2. Raport z audytu

- punkt wypunktowany
    - podpunkt

## 3. Odpowiedzialność

+----------------------+--------------------+
| Rola                 | Zadanie            |
+======================+====================+
| Pełnomocnik          | zatwierdza program |
+----------------------+--------------------+
| Audytor wiodący i zespół audytowy         |
+----------------------+--------------------+
| Kierownik komórki    | usuwa niezgodności |
+----------------------+--------------------+

Zob. [ISO 9001](https://www.iso.org/standard/62085.html).

![Schemat przebiegu audytu]({image})

[^1]: Zgodnie z normą PN-EN ISO 9001:2015.
"""


def tiny_png(rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A 4 × 4 PNG made here, so the tests need no image files."""
    raw = b"".join(b"\x00" + bytes(rgb) * 4 for _ in range(4))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def office_file(
    folder: Path,
    name: str,
    *,
    doc_id: str = "P-21",
    title: str = "Audyty wewnętrzne",
    unit: str = "OR",
    effective: str = "15.01.2026",
    header: bool = True,
    rgb: tuple[int, int, int] = (200, 30, 30),
) -> Path:
    """A .docx or .odt (by ``name``'s suffix) with a header table, headings, nested lists, a table
    with a merged cell, a footnote, a link and an image."""
    import pypandoc

    folder.mkdir(parents=True, exist_ok=True)
    image = folder / f"{Path(name).stem}.png"
    image.write_bytes(tiny_png(rgb))
    text = header_table(doc_id=doc_id, title=title, unit=unit, effective=effective) if header else ""
    text += BODY.format(image=image.name)
    target = folder / name
    pypandoc.convert_text(
        text,
        target.suffix.lstrip("."),
        format="markdown",
        outputfile=str(target),
        extra_args=[f"--resource-path={folder}"],
    )
    return target
