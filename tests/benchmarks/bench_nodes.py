"""Benchmark: a second node (issue 14) — release latency embedded, with a git remote, and with a
git remote and PostgreSQL; how long a node takes to catch up 1,000 releases made elsewhere.

Run with `pytest -m benchmark -s tests/benchmarks/bench_nodes.py`. Prints numbers; asserts only
that the work was done. The remote is a bare repository on the same disk (a network remote adds
its round trips); PostgreSQL is the test session's server on loopback.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from conftest import DOC, PASSWORD, make_instance  # noqa: E402

from docctl.ops.instance import Instance  # noqa: E402

pytestmark = pytest.mark.benchmark
RELEASES = 20


def _bare(path: Path) -> Path:
    subprocess.run(["git", "init", "--bare", "-q", str(path)], check=True)
    return path


def _release_times(instance: Instance) -> list[float]:
    """Seconds from the last signature to released (the change opened and reviewed beforehand)."""
    people = {p.login: p for p in instance.users.list()}
    wf, times = instance.workflow, []
    for n in range(RELEASES):
        change = wf.create(
            people["author"],
            doc_id=f"IR-{n:02d}",
            markdown=DOC,
            reason="r",
            title=f"Instrukcja {n}",
            doc_type="instruction",
            unit="OR",
        )
        wf.submit(people["author"], change.number)
        started = time.perf_counter()
        wf.approve(people["approver"], change.number, password=PASSWORD)
        times.append(time.perf_counter() - started)
    return times


def test_release_latency_embedded_and_with_a_remote_and_postgresql(tmp_path, clock, postgres_server):
    setups = {
        "embedded (SQLite files, no remote)": {},
        "GIT_REMOTE (bare repository on this disk)": {"GIT_REMOTE": str(_bare(tmp_path / "r1.git"))},
        "GIT_REMOTE + DATABASE_URL (PostgreSQL on loopback)": {
            "GIT_REMOTE": str(_bare(tmp_path / "r2.git")),
            "DATABASE_URL": postgres_server.new_database(),
        },
    }
    print()
    for i, (label, overrides) in enumerate(setups.items()):
        instance = make_instance(tmp_path / f"node{i}", clock, overrides=overrides)
        times = sorted(_release_times(instance))
        assert len(instance.catalog.master_list(instance.today())) >= RELEASES
        print(
            f"release (last signature -> released), {RELEASES} runs, {label}: "
            f"p50 {statistics.median(times) * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
        )


def test_a_node_catches_up_1000_releases(tmp_path, clock):
    from history import generate

    remote = _bare(tmp_path / "shared.git")
    generate(tmp_path / "a", 100, 10, progress=lambda _: None)  # 1,000 releases on node a
    first = subprocess.run(
        ["git", f"--git-dir={tmp_path / 'a' / 'repo.git'}", "rev-list", "--max-parents=0", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    subprocess.run(
        ["git", f"--git-dir={tmp_path / 'a' / 'repo.git'}", "push", "-q", str(remote), f"{first}:refs/heads/main"],
        check=True,
    )
    b = Instance.create(
        tmp_path / "b", admin_login="admin", admin_password=PASSWORD, overrides={"GIT_REMOTE": str(remote)}
    )  # joins the history as it began
    a = Instance(tmp_path / "a", overrides={"GIT_REMOTE": str(remote)})
    started = time.perf_counter()
    pushed = a.sync()
    push_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = b.sync()
    seconds = time.perf_counter() - started
    assert not report.error and len(b.catalog.master_list(b.today())) == 100
    print(
        f"\nnode a pushed {len(pushed.pushed)} refs (1,000 releases) in {push_seconds:.1f} s; "
        f"node b caught up ({len(report.pulled)} refs: catalog, change index, audit trail, search) in {seconds:.1f} s"
    )
