"""Benchmark: my tasks, the change list and opening a change with many change branches (issue 12).

Run with `pytest -m benchmark tests/benchmarks/bench_changes.py -s` (DOCCTL_BENCH_CHANGES sets the
number of change branches, default 1,000). Prints numbers; asserts nothing about speed.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
from bench_views import login, percentiles

pytestmark = pytest.mark.benchmark

DOC = "# Procedura\n\n## 1. Cel\nTekst procedury numer {n}.\n"


def test_tasks_with_many_changes(tmp_path):
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from datetime import UTC, datetime

    from conftest import FakeClock, make_instance  # noqa: E402

    from docctl.web import build_app

    instance = make_instance(tmp_path / "inst", FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    author = instance.users.get("author")
    total = int(os.environ.get("DOCCTL_BENCH_CHANGES", "1000"))
    started = time.perf_counter()
    create_times = []
    for n in range(total):
        t0 = time.perf_counter()
        change = instance.workflow.create(
            author,
            doc_id=f"P-{n + 1:04d}",
            markdown=DOC.format(n=n),
            reason="Nowa",
            title=f"Procedura {n}",
            doc_type="procedure",
            unit="OR",
        )
        create_times.append(time.perf_counter() - t0)
        if n % 50 == 0:
            instance.workflow.submit(author, change.number)
    print(
        f"\n{total} changes opened in {time.perf_counter() - started:.1f} s;"
        f" open a change: first 50 p50 {statistics.median(create_times[:50]) * 1000:.1f} ms,"
        f" last 50 p50 {statistics.median(create_times[-50:]) * 1000:.1f} ms"
    )
    client = build_app(instance, {}).test_client()
    login(client, "qm", "correct-horse-battery")
    for label, path in (("my tasks /", "/"), ("change list /changes?state=in_review", "/changes?state=in_review")):
        samples = []
        for _ in range(20):
            t0 = time.perf_counter()
            assert client.get(path).status_code == 200
            samples.append(time.perf_counter() - t0)
        print(f"{label:40s} {percentiles(samples)}")
