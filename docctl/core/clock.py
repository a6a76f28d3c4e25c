"""Time, injected: every part takes a ``clock`` so tests and the demo can move it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
