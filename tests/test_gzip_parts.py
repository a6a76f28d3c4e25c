"""A gzip stream stitched from parts compressed once and values stored as they are (issue 12)."""

from __future__ import annotations

import gzip
import random
import zlib

import pytest

from docctl.web.gzip_parts import accepts_gzip, part, stitch


@pytest.mark.parametrize("seed", range(20))
def test_any_mix_of_parts_and_values_reads_back_whole(seed):
    rng = random.Random(seed)
    items, text = [], b""
    for i in range(rng.randint(1, 9)):
        if i % 2 == 0:
            data = rng.randbytes(rng.randint(0, 2000)) + b"<tr><td>P-0001</td></tr>\n" * rng.randint(0, 3000)
            items.append(part(data))
        else:  # a value, sometimes longer than one stored block holds
            data = rng.randbytes(rng.choice([0, 1, 40, 70_000]))
            items.append(data)
        text += data
    stream = stitch(items)
    assert gzip.decompress(stream) == text  # gzip checks the CRC-32 and the length
    assert zlib.decompress(stream, 31) == text


def test_a_part_is_compressed_and_a_value_is_not():
    page = b"<tr><td>the same row</td></tr>\n" * 5000
    secret = b"csrf-token-0123456789"
    stream = stitch([part(page), secret, part(page)])
    assert len(stream) < len(page) // 20
    assert secret in stream  # stored: it shares no compression context with anything


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip, deflate, br", True),
        ("GZIP", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("br, gzip;q=0", False),
        ("identity", False),
        ("", False),
        (None, False),
    ],
)
def test_accept_encoding(header, takes):
    assert accepts_gzip(header) is takes
