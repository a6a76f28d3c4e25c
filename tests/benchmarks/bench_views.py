"""Benchmark: time to first page and per-request times on the demo instance; release latency.

Run with `pytest -m benchmark tests/benchmarks/bench_views.py -s`. Prints numbers; asserts nothing
about speed (timed assertions are flaky; the numbers go into the issue notes).
"""

from __future__ import annotations

import re
import statistics
import time

import pytest

from docctl.ops.demo import build_demo
from docctl.web import build_app

pytestmark = pytest.mark.benchmark


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p95 {p(0.95):6.2f} ms  max {ordered[-1] * 1000:6.2f} ms"


def login(client, user, password):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"login": user, "password": password, "csrf_token": token}).status_code == 302


def test_demo_views(tmp_path):
    started = time.perf_counter()
    instance, people = build_demo(tmp_path / "demo")
    built = time.perf_counter()
    app = build_app(instance, {})
    client = app.test_client()
    login(client, "ewisniewska", "demo-2026-czytelnik")
    first = client.get("/documents/P-05")
    assert first.status_code == 200
    ready = time.perf_counter()
    print(
        f"\ndemo build (replaying {len(instance.catalog.all_records())} commits on main): {built - started:.2f} s;"
        f" app start + login + first document page: {ready - built:.2f} s"
    )
    routes = {
        "current view      /documents/P-05": "/documents/P-05",
        "history           /documents/P-05/history": "/documents/P-05/history",
        "old revision      /documents/P-05/revisions/1": "/documents/P-05/revisions/1",
        "diff              /documents/P-05/diff?from=1&to=3": "/documents/P-05/diff?from=1&to=3",
        "master list       /documents": "/documents",
        "search            /search?q=audytów": "/search?q=audyt%C3%B3w",
        "API document      /api/v1/documents/P-05": "/api/v1/documents/P-05",
    }
    for label, path in routes.items():
        assert client.get(path).status_code == 200
        samples = []
        for _ in range(200):
            t0 = time.perf_counter()
            client.get(path)
            samples.append(time.perf_counter() - t0)
        print(f"{label:<50} {percentiles(samples)}")

    # release latency: the last signature → released, catalog and search index updated
    author, approver, qm = (instance.users.get(n) for n in ("jkowalska", "anowak", "pmazur"))
    wf = instance.workflow
    samples = []
    for n in range(5):
        change = wf.create(
            author, doc_id="P-02", markdown=f"# Nadzór nad zapisami\n\nWersja {n}.\n", reason=f"Test {n}"
        )
        wf.submit(author, change.number)
        wf.approve(approver, change.number, password="demo-2026-kierownik")
        t0 = time.perf_counter()
        assert wf.approve(qm, change.number, password="demo-2026-pelnomocnik").state == "released"
        samples.append(time.perf_counter() - t0)
    print(f"{'release (last signature → released + indexed)':<50} {percentiles(samples)}")
    print("(each signature includes one scrypt password check, n=2**14, ~40-60 ms by design)")
