"""Benchmark: Whoosh search over 2,000 generated Polish documents against `git grep -i` on the same
tree. Run with `pytest -m benchmark tests/benchmarks/bench_search.py -s`; prints numbers only."""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import time
from datetime import date

import pytest

from docctl.assets import asset_dir
from docctl.derived.search import IndexEntry, SearchIndex

pytestmark = pytest.mark.benchmark
DOCS, WORDS_PER_DOC = 2000, 400


def vocabulary() -> list[str]:
    words: list[str] = []
    for path in (asset_dir("docs_repo") / "documents").glob("*.md"):
        words += re.findall(r"[^\W\d_]{3,}", path.read_text(encoding="utf-8").lower())
    return words


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (
        f"p50 {statistics.median(ordered) * 1000:7.2f} ms   "
        f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:7.2f} ms"
    )


def test_search_benchmark(tmp_path):
    rng = random.Random(2026)
    vocab = vocabulary()
    tree = tmp_path / "tree"
    (tree / "documents").mkdir(parents=True)
    entries = []
    for n in range(DOCS):
        body = " ".join(rng.choice(vocab) for _ in range(WORDS_PER_DOC))
        doc_id = f"P-{n:04d}"
        (tree / "documents" / f"{doc_id}.md").write_text(body, encoding="utf-8")
        entries.append(
            IndexEntry(
                f"{doc_id}@1",
                doc_id,
                f"Procedura {rng.choice(vocab)} {rng.choice(vocab)}",
                body,
                "procedure",
                rng.choice(["KS", "OR", "BOM", "FN", "IT"]),
                1,
                "released",
                date(2024, 1, 1),
                None,
            )
        )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "corpus"]):
        subprocess.run(["git", *args], cwd=tree, env=env, check=True)

    index = SearchIndex(tmp_path / "search")
    t0 = time.perf_counter()
    index.rebuild(entries, commit="bench")
    print(f"\ncorpus: {DOCS} documents x {WORDS_PER_DOC} words")
    print(f"full rebuild:             {time.perf_counter() - t0:7.2f} s")
    for size in (1, 20):
        samples = []
        for _ in range(5):
            batch = rng.sample(entries, size)
            t0 = time.perf_counter()
            index.apply(batch, commit="bench")
            samples.append(time.perf_counter() - t0)
        print(f"incremental apply of {size:>2}:  {stats(samples)}")

    common = [w for w in set(vocab) if len(w) > 5]
    queries = {
        "one word": [rng.choice(common) for _ in range(60)],
        "two words": [f"{rng.choice(common)} {rng.choice(common)}" for _ in range(60)],
        "phrase": [],
    }
    for _ in range(60):
        text = entries[rng.randrange(DOCS)].body.split()
        start = rng.randrange(len(text) - 2)
        queries["phrase"].append(" ".join(text[start : start + 2]))
    at = date(2026, 6, 1)
    for kind, items in queries.items():
        whoosh, grep = [], []
        for q in items:
            query = f'"{q}"' if kind == "phrase" else q
            t0 = time.perf_counter()
            index.search(query, at=at)
            whoosh.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            if kind == "two words":
                first, second = q.split()
                subprocess.run(
                    ["git", "grep", "-i", "-l", "--all-match", "-e", first, "--and", "-e", second],
                    cwd=tree,
                    capture_output=True,
                )
            else:
                subprocess.run(["git", "grep", "-i", "-l", "-F", "-e", q], cwd=tree, capture_output=True)
            grep.append(time.perf_counter() - t0)
        print(
            f"{kind:<10} whoosh {stats(whoosh)}   |   git grep -i {stats(grep)}   "
            f"({statistics.median(grep) / statistics.median(whoosh):.1f}x)"
        )
    print("(whoosh finds inflected forms and ranks; git grep matches literal substrings only)")
