"""Benchmark at scale (issue 12): generated histories served by `docctl serve --threads 8`, loaded
by wrk with 8 clients, beside the floors (`git cat-file --batch`, `git grep -i`).

    pytest -m benchmark -s tests/benchmarks/bench_history.py
    DOCCTL_BENCH_SIZES=200x10 DOCCTL_BENCH_KEEP=/tmp/hist pytest -m benchmark -s tests/benchmarks/bench_history.py

Prints p50 / p99 / req/s per route and size, release latency, start-up, reindex of the current
revisions and peak server RSS. Asserts nothing about speed; the numbers go into issue notes.
"""

from __future__ import annotations

import http.cookiejar
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from history import PASSWORD, generate  # noqa: E402

pytestmark = pytest.mark.benchmark
WRK = shutil.which("wrk")
SEARCHES = {
    "search one word": "audytów",
    "search two words": "przegląd systemu",
    "search phrase": '"działania korygujące"',
    "search inflected": "niezgodność",
    "search no diacritics": "zarzadzania",
}


def _serve(root: Path, port: int):
    env = {**os.environ, "DOCCTL_INSTANCE": str(root)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "docctl.cli", "serve", "--port", str(port), "--threads", "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):  # noqa: S310 - our own loopback server
                break
        except OSError:
            time.sleep(0.05)
    return proc, base, time.monotonic() - started


def _session(base: str) -> tuple[str, urllib.request.OpenerDirector]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/login") as response:
        page = response.read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"login": "qm", "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(base + "/login", data=data).close()
    return "; ".join(f"{c.name}={c.value}" for c in jar), opener


def _wrk(base: str, path: str, cookie: str, seconds: int = 4, *, gzip: bool = False) -> dict:
    """wrk's figures for one route; with ``gzip``, the requests say what browsers say:
    ``Accept-Encoding: gzip, deflate, br``."""
    headers = ["-H", f"Cookie: {cookie}", *(["-H", "Accept-Encoding: gzip, deflate, br"] if gzip else [])]
    # Warm up first: the first view of a (main head, day) in each worker process builds what
    # every later one reuses (the 2,000-row register: ~1.5 s), which is start-up, not load.
    request = urllib.request.Request(base + path, headers={"Cookie": cookie})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - our own loopback server
        answer.read()
    subprocess.run([WRK, "-t2", "-c8", "-d1s", *headers, base + path], capture_output=True, check=True)
    out = subprocess.run(
        [WRK, "-t2", "-c8", f"-d{seconds}s", "--latency", *headers, base + path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "rps": rate,
        "errors": non2xx.group(1) if non2xx else "0",
    }


def _timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def _api_caller(base: str, root: Path):
    """A JSON API client with a token for the author, the approver and the QM."""
    from docctl.ops.instance import Instance

    instance = Instance(root)
    tokens = {who: instance.users.create_token(who) for who in ("author", "approver", "qm")}

    def call(who, method, path, body=None):
        request = urllib.request.Request(  # noqa: S310 - our own loopback server
            base + "/api/v1" + path,
            data=json.dumps(body or {}).encode(),
            method=method,
            headers={"Authorization": f"Bearer {tokens[who]}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our own loopback server
            return json.load(response)

    return call


def _ready_to_release(call, doc_id: str, note: str) -> int:
    """A change of ``doc_id`` with every signature but the last one."""
    text = f"# Procedura\n\nWydanie z pomiaru {note} ({time.time():.0f}): nadzór nad zapisami.\n"  # new each run
    number = call("author", "POST", "/changes", {"document_id": doc_id, "markdown": text, "reason": "Pomiar"})["number"]
    call("author", "POST", f"/changes/{number}/submit")
    call("approver", "POST", f"/changes/{number}/approve", {"password": PASSWORD})
    return number


def _release_latency(base: str, root: Path, documents: int, rounds: int = 10) -> list[float]:
    """Last signature → released, through the JSON API, on ten documents."""
    call = _api_caller(base, root)
    samples = []
    for doc in range(1, rounds + 1):
        number = _ready_to_release(call, f"P-{doc * (documents // 10):04d}", str(doc))
        t0 = time.perf_counter()
        assert call("qm", "POST", f"/changes/{number}/approve", {"password": PASSWORD})["state"] == "released"
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def _concurrent_releases(base: str, root: Path, documents: int, at_once: int = 8) -> tuple[int, list[float]]:
    """``at_once`` last signatures sent together (eight quality managers at the same moment):
    how many were released, and how long each took."""
    from concurrent.futures import ThreadPoolExecutor

    call = _api_caller(base, root)
    numbers = [_ready_to_release(call, f"P-{(doc * 7) % documents + 1:04d}", f"c{doc}") for doc in range(at_once)]

    def last_signature(number: int) -> tuple[str, float]:
        t0 = time.perf_counter()
        try:
            state = call("qm", "POST", f"/changes/{number}/approve", {"password": PASSWORD})["state"]
        except OSError as exc:  # an HTTP error or a timeout: not released
            state = str(exc)
        return state, (time.perf_counter() - t0) * 1000

    with ThreadPoolExecutor(at_once) as pool:
        answers = list(pool.map(last_signature, numbers))
    released = sum(1 for state, _ in answers if state == "released")
    times = [ms for _, ms in answers]
    print(
        f"   {at_once} releases at once (last signatures together): {released} released,"
        f" p50 {statistics.median(times):.0f} ms, max {max(times):.0f} ms"
    )
    return released, times


def _cold_searches(root: Path) -> dict[str, float]:
    """Distinct queries in-process (wrk repeats one query, which the server answers from its
    per-index-version cache): what a query costs the first time."""
    from history import sample_paragraphs

    from docctl.ops.instance import Instance

    instance = Instance(root)
    words = sorted({w for p in sample_paragraphs() for w in re.findall(r"\w{6,}", p.lower())})[::7][:40]
    samples = _timed(lambda it=iter(words): instance.search.search(next(it), at=instance.today()), len(words))
    pairs = iter(zip(words, words[1:], strict=False))
    two = _timed(lambda: instance.search.search(" ".join(next(pairs)), at=instance.today()), 30)
    # Phrases as people quote them: two words standing side by side in the sample text.
    quoted = sorted(
        {
            f'"{a} {b}"'
            for p in sample_paragraphs()
            for a, b in itertools.pairwise(re.findall(r"\w{4,}", p))
            if f"{a} {b}" in p
        }
    )[::5][:40]
    said = iter(quoted)
    phrases = _timed(lambda: instance.search.search(next(said), at=instance.today()), len(quoted))
    found = {}
    for name, values in (("one word", samples), ("two words", two), ("phrase", phrases)):
        ordered = sorted(values)
        p95 = found[name] = ordered[int(0.95 * (len(ordered) - 1))]
        label = f"search uncached, {name} (in-process, {len(values)} distinct)"
        print(f"   {label}: p50 {statistics.median(values):.0f} ms, p95 {p95:.0f} ms")
    return found


def _rss_mb(pid: int) -> tuple[float, float]:
    """RSS now and peak, summed over the server process and its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    now = peak = 0.0
    for each in [pid, *map(int, children)]:
        status = Path(f"/proc/{each}/status").read_text()
        now += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
        peak += int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    return now, peak


def _pss_mb(pid: int) -> float:
    """PSS summed over the server process and its workers: what the server takes, each page the
    workers share (the search indexes, mapped from their files) counted once, not once a worker."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0.0
    for each in [pid, *map(int, children)]:
        rollup = Path(f"/proc/{each}/smaps_rollup").read_text()
        total += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1)) / 1024
    return total


def _bench_size(tmp: Path, documents: int, revisions: int, port: int) -> dict[str, dict]:
    keep = os.environ.get("DOCCTL_BENCH_KEEP")
    root = (Path(keep) if keep else tmp) / f"h{documents}x{revisions}"
    if not (root / "repo.git").exists():
        t0 = time.monotonic()
        generate(root, documents, revisions, progress=lambda _: None)
        print(f"\n== {documents} x {revisions}: generated in {time.monotonic() - t0:.0f} s")
        from docctl.ops.instance import Instance

        t0 = time.monotonic()
        Instance(root).start()
        print(f"   first start-up (catalog, change index, both search indexes): {time.monotonic() - t0:.1f} s")
    proc, base, startup = _serve(root, port)
    try:
        print(f"\n== {documents} x {revisions}: server start-up {startup:.2f} s (ready for /healthz)")
        cookie, _ = _session(base)
        doc = f"P-{documents // 2:04d}"
        routes = {
            "current page": f"/documents/{doc}",
            "JSON document": f"/api/v1/documents/{doc}",
            "old revision": f"/documents/{doc}/revisions/{max(revisions - 1, 1)}",
            "history": f"/documents/{doc}/history",
            "diff": f"/documents/{doc}/diff?from={max(revisions - 1, 1)}&to={revisions}",
            "master list": "/documents",
            "master list, gzip": "/documents",
            "my tasks": "/",
            **{name: "/api/v1/search?q=" + urllib.parse.quote(q) for name, q in SEARCHES.items()},
            "search page": "/search?q=" + urllib.parse.quote("audytów"),
            "audit trail page": "/audit",
            "audit trail API, unit+period": "/api/v1/audit/events?unit=OR&since=2020-01-01&until=2020-03-31",
            "audit trail API, document": f"/api/v1/audit/events?document={doc}",
            "audit trail API, page 20": "/api/v1/audit/events?page=20",
            "register as of (API)": "/api/v1/documents?as_of=2020-06-01",
            "register as of (page)": "/documents?as_of=2020-06-01",
            "confirmations (document)": f"/api/v1/documents/{doc}/acknowledgements",
        }
        print(f"   {'route':24s} {'p50':>9s} {'p99':>9s} {'req/s':>8s}  non-2xx")
        results = {}
        for name, path in routes.items():
            r = results[name] = _wrk(base, path, cookie, gzip=name.endswith(", gzip"))
            print(f"   {name:24s} {r['p50']:>9s} {r['p99']:>9s} {r['rps']:8.0f}  {r['errors']}")
        _soak(base, cookie, proc.pid, [routes[n] for n in ("current page", "JSON document", "history", "my tasks")])
        cold = _cold_searches(root)
        mixed = _mixed_distinct_queries(base, cookie, proc.pid, documents, tmp)
        release = _release_latency(base, root, documents)
        p50, worst = statistics.median(release), max(release)
        print(f"   release (last signature → released): p50 {p50:.0f} ms, max {worst:.0f} ms")
        together = _concurrent_releases(base, root, documents)
        _verify_time(root, "--full")
        one = _release_latency(base, root, documents, rounds=1)
        print(f"   one more release: {one[0]:.0f} ms; then the incremental check:")
        _verify_time(root)
        now, peak = _rss_mb(proc.pid)
        pss = _pss_mb(proc.pid)
        print(
            f"   server RSS after the load (all processes): {now:.0f} MB (peaks summed {peak:.0f} MB);"
            f" PSS {pss:.0f} MB (shared pages counted once)"
        )
        grep = _floors(root, doc)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    floor = _flask_floor(root, doc, port + 100)
    print(
        f"   floor minimal Flask app (same server settings, one blob reader, a render cache): {floor['rps']:.0f}"
        f" req/s, p50 {floor['p50']}; docctl's current page {results['current page']['rps'] / floor['rps']:.2f}x of it"
    )
    reindex = _reindex_time(root)
    _print_targets(results, cold, grep, p50, together, reindex, startup, now, mixed, pss, documents)
    return results


def _reindex_time(root: Path) -> float:
    """`docctl reindex` up to "search is ready" (catalog, change index, current-revision index),
    as a whole process; then the trail's rows and the older releases' files it reads after (the
    all-revisions index that follows is built in the background)."""
    code = (
        "import sys, time; from docctl.ops.instance import Instance;"
        "from docctl.ops.reindexing import rebuild_until_searchable;"
        "i = Instance(sys.argv[1]); print(rebuild_until_searchable(i).seconds, flush=True);"
        "t = time.monotonic(); i.catalog.write_trail_later(); i.catalog.fill_files();"
        "print(time.monotonic() - t, flush=True)"
    )
    t0 = time.monotonic()
    with subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE, text=True) as proc:
        rebuilding = float(proc.stdout.readline())  # printed as soon as search answers
        seconds = time.monotonic() - t0
        after = float(proc.stdout.readline())
    assert proc.returncode == 0
    print(f"   docctl reindex until search is ready: {seconds:.1f} s as a process ({rebuilding:.1f} s of rebuilding)")
    print(f"   then the trail's rows for main and the older releases' files: {after:.1f} s")
    return seconds


_FLOOR_APP = """
import subprocess
from flask import Flask
import markdown

GIT_DIR = {git_dir!r}
app = Flask(__name__)
_reader = None
_pages = {{}}


def _blob(spec):
    global _reader
    if _reader is None:
        _reader = subprocess.Popen(["git", "--git-dir=" + GIT_DIR, "cat-file", "--batch"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    _reader.stdin.write(spec.encode() + b"\\n")
    _reader.stdin.flush()
    size = int(_reader.stdout.readline().split()[2])
    data = _reader.stdout.read(size + 1)[:-1]
    return data.decode()


@app.route("/documents/<doc_id>")
def page(doc_id):
    html = _pages.get(doc_id)
    if html is None:
        html = _pages[doc_id] = "<!doctype html><title>" + doc_id + "</title>" + markdown.markdown(
            _blob("main:documents/" + doc_id + ".md"))
    return html
"""


def _flask_floor(root: Path, doc: str, port: int) -> dict:
    """The floor of issue 12: a minimal Flask app over the same blobs (a persistent blob reader
    and a render cache), served by gunicorn with docctl's own settings."""
    folder = root.parent / "floor-app"
    folder.mkdir(exist_ok=True)
    (folder / "floor_app.py").write_text(_FLOOR_APP.format(git_dir=str(root / "repo.git")))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(folder),
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--threads",
            "8",
            "-k",
            "gthread",
            "--keep-alive",
            "5",
            "--reuse-port",
            "--graceful-timeout",
            "2",
            "floor_app:app",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{base}/documents/{doc}", timeout=1):  # noqa: S310 - loopback
                    break
            except OSError:
                time.sleep(0.05)
        return _wrk(base, f"/documents/{doc}", "none=1")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _process_state(pid: int) -> dict[int, tuple[float, int, int]]:
    """Per server process (the master and its workers): RSS MB, open files, child processes."""
    out = {}
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    for each in pids:
        rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{each}/status").read_text()).group(1)) / 1024
        # files and pipes: sockets come and go with the clients' kept-alive connections
        links = [_link(f"/proc/{each}/fd/{fd}") for fd in os.listdir(f"/proc/{each}/fd")]
        fds = sum(1 for link in links if not link.startswith("socket:"))
        children = len(Path(f"/proc/{each}/task/{each}/children").read_text().split())
        out[each] = (rss, fds, children)
    return out


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return "socket:"


def _soak(base: str, cookie: str, pid: int, paths: list[str], total: int = 20_000) -> None:
    """20,000 requests over a few routes: no growth in open files or child processes, RSS ≤ +10 %."""
    before, done, rounds = _process_state(pid), 0, 0
    while done < total:
        path = paths[rounds % len(paths)]
        out = subprocess.run(
            [WRK, "-t2", "-c8", "-d3s", "-H", f"Cookie: {cookie}", base + path], capture_output=True, text=True
        ).stdout
        done += int(re.search(r"(\d+) requests in", out).group(1))
        rounds += 1
    after = _process_state(pid)
    print(f"   soak: {done} requests over {len(paths)} routes")
    for each, (rss, fds, children) in after.items():
        rss0, fds0, children0 = before.get(each, (rss, fds, children))
        growth = (rss - rss0) / rss0 * 100 if rss0 else 0.0
        print(
            f"     process {each}: RSS {rss0:.0f} → {rss:.0f} MB ({growth:+.1f} %), open files {fds0} → {fds},"
            f" child processes {children0} → {children}"
        )


_MIXED_LUA = """
math.randomseed(%(seed)d)
local words = {%(words)s}
local docs = {%(docs)s}
local n = 0
local function typo(w)
  local i = math.random(2, #w - 1)
  return w:sub(1, i - 1) .. w:sub(i + 1)
end
request = function()
  n = n + 1
  if n %% 2 == 0 then
    return wrk.format("GET", "/api/v1/documents/" .. docs[math.random(#docs)])
  end
  local a, b = words[math.random(#words)], words[math.random(#words)]
  if math.random(4) == 1 then a = typo(a) end
  return wrk.format("GET", "/api/v1/search?q=" .. a .. "%%20" .. b .. "&page=" .. math.random(3))
end
"""


def _mixed_distinct_queries(base: str, cookie: str, pid: int, documents: int, tmp: Path) -> dict:
    """What people do (issue 33, item 4): 8 clients, half distinct two-word queries drawn from the
    texts' vocabulary (a quarter with a typo, pages 1-3), half document reads; RSS sampled as it
    goes, to see it level off. ``DOCCTL_BENCH_MIXED_SECONDS`` (default 120; the issue's 600)."""
    from history import sample_paragraphs

    seconds = int(os.environ.get("DOCCTL_BENCH_MIXED_SECONDS", "120"))
    vocabulary = sorted({w for p in sample_paragraphs() for w in re.findall(r"[a-ząćęłńóśźż]{5,}", p.lower())})
    script = tmp / "mixed.lua"
    script.write_text(
        _MIXED_LUA
        % {
            "seed": 2026,
            "words": ", ".join(f'"{urllib.parse.quote(w)}"' for w in vocabulary),
            "docs": ", ".join(f'"P-{d:04d}"' for d in range(1, documents + 1, max(documents // 500, 1))),
        }
    )
    rss, pss = [_rss_mb(pid)[0]], [_pss_mb(pid)]
    runs, step = [], max(seconds // 6, 10)
    for _ in range(max(seconds // step, 1)):
        out = subprocess.run(
            [WRK, "-t2", "-c8", f"-d{step}s", "--latency", "-s", str(script), "-H", f"Cookie: {cookie}", base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
        runs.append((float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), latency["50"], latency["99"]))
        rss.append(_rss_mb(pid)[0])
        pss.append(_pss_mb(pid))
    rate = statistics.mean(r[0] for r in runs)
    print(
        f"   mixed distinct queries and reads, 8 clients, {len(runs) * step} s ({len(vocabulary)} words):"
        f" {rate:.0f} req/s; p50 per {step} s: {', '.join(r[1] for r in runs)}; p99: {', '.join(r[2] for r in runs)}"
    )
    print(f"     server RSS every {step} s: {' → '.join(f'{m:.0f}' for m in rss)} MB")
    print(f"     server PSS every {step} s: {' → '.join(f'{m:.0f}' for m in pss)} MB")
    return {"rps": rate, "rss": rss, "pss": pss}


def _verify_time(root: Path, *args: str) -> None:
    """`docctl verify` as a whole process: with ``--full`` every release, signature and reflog
    entry checked; without, what came after the last verified anchor (issue 30)."""
    # As installed: pip compiles the modules once; a PYTHONDONTWRITEBYTECODE set for the tests
    # would compile docctl anew in every process (0.3 s of a 1 s check).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "docctl.cli", "--instance", str(root), "verify", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-200:]
    print(f"   docctl verify {' '.join(args)}: {time.monotonic() - t0:.1f} s, exit {proc.returncode}: {last}")


def _floors(root: Path, doc: str) -> dict[str, float]:
    git = ["git", f"--git-dir={root / 'repo.git'}"]
    blob = subprocess.run([*git, "rev-parse", f"main:documents/{doc}.md"], capture_output=True, text=True).stdout
    batch = subprocess.Popen([*git, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read_blob():
        batch.stdin.write(blob.encode())
        batch.stdin.flush()
        size = int(batch.stdout.readline().split()[2])
        batch.stdout.read(size + 1)

    cat = _timed(read_blob, 200)
    batch.stdin.close()
    batch.stdout.close()
    batch.wait()
    print(f"   floor git cat-file --batch (one blob): p50 {statistics.median(cat):.3f} ms")
    found = {}
    for name in ("search one word", "search two words"):
        words = SEARCHES[name].split()
        pattern = ["-e", words[0]] + sum((["--and", "-e", w] for w in words[1:]), [])

        def grep(pattern=pattern):
            subprocess.run([*git, "grep", "-i", "-l", *pattern, "main", "--", "documents/"], capture_output=True)

        samples = _timed(grep, 10)
        found[name] = statistics.median(samples)
        print(f"   floor git grep -i ({name}): p50 {found[name]:.0f} ms")
    return found


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (Debian package wrk)")
def test_history_at_scale(tmp_path):
    sizes = os.environ.get("DOCCTL_BENCH_SIZES", "200x10,2000x20").split(",")
    found = {}
    for port, size in enumerate(sizes, start=18400):
        documents, revisions = (int(x) for x in size.split("x"))
        found[size] = _bench_size(tmp_path, documents, revisions, port)
    if len(sizes) > 1:  # each p50 at the longest history within 1.5x of the shortest
        small, large = found[sizes[0]], found[sizes[-1]]
        print(f"\n== p50 at {sizes[-1]} against {sizes[0]} (target: within 1.5x)")
        for name, r in large.items():
            ratio = _ms(r["p50"]) / _ms(small[name]["p50"])
            print(f"   {name:30s} {small[name]['p50']:>9s} → {r['p50']:>9s}  {ratio:4.2f}x  {_verdict(ratio <= 1.5)}")


def _ms(latency: str) -> float:
    """wrk's latency ("850.00us", "3.13ms", "1.32s") in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", latency).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _print_targets(
    results: dict,
    cold: dict,
    grep: dict,
    release_p50: float,
    together: tuple[int, list[float]],
    reindex: float,
    startup: float,
    rss: float,
    mixed: dict,
    pss: float,
    documents: int = 2000,
) -> None:
    """Issue 12's targets (issue 33's where they differ for a register wider than 2,000
    documents), each with its figure from this run and whether it is met."""
    wide = documents > 2000
    ready_in = 60 if wide else 15  # seconds
    checks = []
    for name in ("current page", "JSON document"):
        r = results[name]
        checks += [
            (f"{name} ≥ 1,000 req/s", f"{r['rps']:.0f}", r["rps"] >= 1000),
            (f"{name} p50 ≤ 5 ms, p99 ≤ 30 ms", f"{r['p50']}, {r['p99']}", _ms(r["p50"]) <= 5 and _ms(r["p99"]) <= 30),
        ]
    for name in ("history", "old revision", "master list", "master list, gzip", "my tasks"):
        checks.append((f"{name} ≥ 600 req/s", f"{results[name]['rps']:.0f}", results[name]["rps"] >= 600))
    for name in ("one word", "two words"):
        p95 = cold[name]
        faster = grep[f"search {name}"] / max(p95, 0.001)
        figure = f"{p95:.0f} ms ({faster:.1f}x git grep -i)"
        checks.append((f"search {name}, uncached p95 ≤ 30 ms, < grep", figure, p95 <= 30 and faster > 1))
    phrase = results["search phrase"]
    checks += [
        ("search phrase p99 ≤ 100 ms (served)", phrase["p99"], _ms(phrase["p99"]) <= 100),
        ("search phrase, uncached p95 ≤ 100 ms", f"{cold['phrase']:.0f} ms", cold["phrase"] <= 100),
        ("search page ≥ 300 req/s", f"{results['search page']['rps']:.0f}", results["search page"]["rps"] >= 300),
        ("release p50 ≤ 200 ms", f"{release_p50:.0f} ms", release_p50 <= 200),
        (
            f"{len(together[1])} releases at once, none timing out",
            f"{together[0]} released, max {max(together[1]) / 1000:.1f} s",
            together[0] == len(together[1]),
        ),
        (f"reindex until search is ready ≤ {ready_in} s", f"{reindex:.1f} s", reindex <= ready_in),
        ("start-up ≤ 2 s", f"{startup:.2f} s", startup <= 2),
        ("server RSS after the load ≤ 1 GB", f"{rss:.0f} MB", rss <= 1024),
        ("... PSS (shared pages once) ≤ 1 GB", f"{pss:.0f} MB", pss <= 1024),
        (
            "mixed distinct queries ≥ 500 req/s" + (" (at 2,000 x 20)" if wide else ""),
            f"{mixed['rps']:.0f}",
            "-" if wide else mixed["rps"] >= 500,
        ),
        ("... RSS levels off below 1 GB", f"{mixed['rss'][-1]:.0f} MB", max(mixed["rss"]) <= 1024),
        ("... PSS levels off below 1 GB", f"{mixed['pss'][-1]:.0f} MB", max(mixed["pss"]) <= 1024),
    ]
    print("   targets (issue 12" + (", issue 33 at this width):" if wide else "):"))
    for what, figure, met in checks:
        print(f"     {what:42s} {figure:>28s}  {'-' if met == '-' else _verdict(met)}")
