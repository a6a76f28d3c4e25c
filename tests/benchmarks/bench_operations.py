"""Operations at scale (issue 31): first starts of a never-indexed long history, and backup and
restore of it.

    DOCCTL_BENCH_KEEP=/tmp/hist pytest -m benchmark -s tests/benchmarks/bench_operations.py

Ten starts of `docctl serve` (2 workers) on a 2,000 × 20 history whose derived data is gone (as
after a restore or a new node): each must come up — no worker fails to boot — and the times to
the first answer, to `/healthz` 200 (this process prepared), to a search answered and (once) to
the index of all revisions are printed, with the time SIGTERM takes to stop it. Then
`docctl backup` and `docctl restore` of that history. Asserts only that nothing failed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from history import generate  # noqa: E402
from serving import serve, status  # noqa: E402

pytestmark = pytest.mark.benchmark
STARTS = int(os.environ.get("DOCCTL_BENCH_STARTS", "10"))


def _history(tmp_path: Path) -> Path:
    keep = os.environ.get("DOCCTL_BENCH_KEEP")
    root = Path(keep) / "h2000x20" if keep else tmp_path / "h2000x20"
    if not (root / "repo.git").exists():
        generate(root, 2000, 20)
    return root


def _never_indexed_copy(source: Path, target: Path) -> None:
    """The repository (objects hard-linked: git never changes them) and the records, no derived data."""
    shutil.rmtree(target, ignore_errors=True)
    (target / "repo.git").mkdir(parents=True)
    for item in (source / "repo.git").iterdir():
        if item.name == "objects":
            subprocess.run(["cp", "-al", str(item), str(target / "repo.git" / "objects")], check=True)
        elif item.is_dir():
            shutil.copytree(item, target / "repo.git" / item.name, symlinks=True)
        else:
            shutil.copy2(item, target / "repo.git" / item.name)
    for name in ("users.sqlite3", "acks.sqlite3", "outbox.sqlite3", "secret_key", "signing_key", "docctl.toml"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


def _token(root: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "docctl.cli", "--instance", str(root), "token", "create", "qm"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().splitlines()[-1]


def _one_start(root: Path, token: str, *, wait_all: bool) -> dict:
    log = root.parent / f"{root.name}.log"
    started = time.monotonic()
    proc, base = serve(root, log)
    times: dict[str, float] = {}
    try:
        while "search" not in times or "healthz 200" not in times or (wait_all and "all revisions" not in times):
            assert proc.poll() is None, f"the server ended (exit {proc.returncode}): {log.read_text()[-1500:]}"
            now = time.monotonic() - started
            health = status(base + "/healthz")
            if health is not None:
                times.setdefault("first answer", now)
            if health == 200:
                times.setdefault("healthz 200", now)
            if "first answer" in times and status(base + "/api/v1/search?q=audyt", token) == 200:
                times.setdefault("search", now)
            if wait_all and status(base + "/api/v1/search?q=audyt&scope=all", token) == 200:
                times.setdefault("all revisions", now)
            assert now < 900, f"not ready after 15 minutes: {times}"
            time.sleep(0.05 if "search" not in times else 0.5)  # the poll must not load the build
        stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        times["SIGTERM to exit"] = time.monotonic() - stop
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    failed = log.read_text(errors="replace").count("Worker failed to boot")
    assert failed == 0, log.read_text()[-1500:]
    return times


def test_first_starts_of_a_never_indexed_history(tmp_path):
    source = _history(tmp_path)
    token = _token(source)
    print(f"\n== first starts of a never-indexed 2,000 x 20 history ({STARTS} starts, 2 workers)")
    rows = []
    for attempt in range(STARTS):
        root = tmp_path / "start"
        _never_indexed_copy(source, root)
        times = _one_start(root, token, wait_all=attempt == 0)
        rows.append(times)
        print(f"   start {attempt + 1:2d}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()), flush=True)
    for key in ("first answer", "healthz 200", "search", "SIGTERM to exit"):
        values = sorted(r[key] for r in rows)
        print(f"   {key:16s} min {values[0]:.1f} s, median {values[len(values) // 2]:.1f} s, max {values[-1]:.1f} s")
    print(f"   failures: 0 of {STARTS}")


def test_backup_and_restore_of_a_long_history(tmp_path):
    source = _history(tmp_path)
    started = time.monotonic()
    made = subprocess.run(
        [sys.executable, "-m", "docctl.cli", "--instance", str(source), "backup", str(tmp_path / "backup")],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    backup_seconds = time.monotonic() - started
    meta = json.loads((tmp_path / "backup" / "backup.json").read_text())
    size = sum(p.stat().st_size for p in (tmp_path / "backup").rglob("*") if p.is_file())
    print(f"\n== backup of 2,000 x 20: {backup_seconds:.1f} s, {size / 1e6:.0f} MB, {meta['refs']} refs")
    print(f"   {made.stdout.strip()}")
    started = time.monotonic()
    back = subprocess.run(
        [
            sys.executable,
            "-m",
            "docctl.cli",
            "--instance",
            str(tmp_path / "restored"),
            "restore",
            str(tmp_path / "backup"),
        ],
        capture_output=True,
        text=True,
    )
    assert back.returncode == 0, back.stderr
    print(f"   restore: {time.monotonic() - started:.1f} s: {back.stdout.strip()}")
    started = time.monotonic()
    checked = subprocess.run(
        [sys.executable, "-m", "docctl.cli", "--instance", str(tmp_path / "restored"), "verify", "--full"],
        capture_output=True,
        text=True,
    )
    print(f"   verify --full of the restored instance: {time.monotonic() - started:.1f} s, exit {checked.returncode}")
    assert checked.returncode == 0, checked.stdout[-2000:]
