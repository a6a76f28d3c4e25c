"""One gzip stream stitched from parts compressed once and values sent as they are.

A shared page (see pages.py) is the same text for every reader except a few values: the CSRF
token, the reader's name and roles, the address to return to. Compressing the whole page per
request costs milliseconds (the 2,000-row register: 658 KB, 20 KB compressed), so each fixed part
is compressed once, ending on a byte boundary (a sync flush), and each request puts its own
values between the parts as stored (uncompressed) deflate blocks. The CRC-32 of the whole is
put together from each part's CRC without reading the part again: moving a CRC across ``n``
bytes is linear, so each part keeps that map as 32 columns.

The values are never compressed together with anything: a secret (the CSRF token) shares no
compression context with text an attacker may choose (BREACH).
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, OS unknown
_LAST_EMPTY_BLOCK = b"\x01\x00\x00\xff\xff"  # a final stored block of length 0
_STORED_MAX = 0xFFFF


class Part(NamedTuple):
    """A fixed part of a document: its deflate blocks (not final, byte-aligned), its CRC-32,
    its length and the map that moves a CRC across it."""

    deflated: bytes
    crc: int
    size: int
    across: tuple[int, ...]  # 32 columns: the image of each bit of a CRC carried over `size` bytes


def part(data: bytes, level: int = 6) -> Part:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw deflate: blocks only
    deflated = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    zeros = bytes(len(data))
    base = zlib.crc32(zeros, 0)
    across = tuple(zlib.crc32(zeros, 1 << bit) ^ base for bit in range(32))
    return Part(deflated, zlib.crc32(data), len(data), across)


def stitch(items: list[Part | bytes]) -> bytes:
    """A gzip member whose text is the items in order: parts as compressed once, bytes as
    stored blocks."""
    out = [GZIP_HEADER]
    crc = size = 0
    for item in items:
        if isinstance(item, Part):
            crc = _carry(crc, item.across) ^ item.crc
            size += item.size
            out.append(item.deflated)
        else:
            crc = zlib.crc32(item, crc)
            size += len(item)
            for start in range(0, len(item), _STORED_MAX):
                chunk = item[start : start + _STORED_MAX]
                out += (b"\x00", struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF), chunk)
    out += (_LAST_EMPTY_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


def _carry(crc: int, across: tuple[int, ...]) -> int:
    """The CRC of some text, moved across a part: what it would be with the part's length of
    zero bytes appended, less the zeros' own CRC (zlib's ``crc32_combine``)."""
    out = bit = 0
    while crc:
        if crc & 1:
            out ^= across[bit]
        crc >>= 1
        bit += 1
    return out


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip (and does not refuse it with q=0)."""
    for item in (header or "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            return not (q.startswith("q=") and _quality(q[2:]) == 0)
    return False


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0
