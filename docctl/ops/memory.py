"""A server's memory handed back: glibc's malloc, told to keep what a worker freed to itself.

A search scores tens of thousands of documents into dictionaries that live for one request; a
worker's eight threads each got a malloc arena of their own (glibc gives up to eight per core),
and what a request freed stayed in its arena. At 20,000 × 10 a worker's private memory rose to
260-380 MB under the mixed load while Python itself held 100 MB (tracemalloc). Two arenas per
process, and the free pages given back to the kernel every few seconds (``malloc_trim``), keep
the resident set near what is really in use. Elsewhere than glibc, both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger("docctl.memory")
M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2
TRIM_EVERY = 5.0  # seconds


@functools.cache
def _glibc():
    """The C library, found once (``find_library`` runs ``ldconfig``: not every 5 s)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only: musl and others lack them
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At most ``arenas`` malloc arenas in this process and the workers forked from it; call it
    before any thread starts (a thread's arena is chosen when it first allocates)."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, arenas))


def give_back() -> bool:
    """Hand the pages malloc holds free back to the kernel (``malloc_trim(0)``): a few ms."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))
