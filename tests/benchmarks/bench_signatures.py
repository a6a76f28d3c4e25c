"""Benchmark: what signatures cost (issue 29) — unlocking a key, signing and checking a commit,
a release with its signatures, and verify's signature pass.

    pytest -m benchmark -s tests/benchmarks/bench_signatures.py

With the production key derivation (scrypt n=2**14, r=8, p=1), not the tests' cheap one. Prints
numbers; asserts nothing about speed. The verify figure for 240,000 commits is projected from
the measured rate per commit (the generated 2,000 x 20 history is written by git fast-import,
which cannot sign: it is a history from before signing, signed from its first start on).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import pytest

pytestmark = pytest.mark.benchmark


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def test_signature_costs(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from datetime import UTC, datetime

    from conftest import PASSWORD, FakeClock, make_instance, release  # noqa: E402
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    import docctl.stores.keys
    import docctl.stores.people
    from docctl.audit.signatures import check_signatures
    from docctl.core import sshsig

    monkeypatch.setattr(docctl.stores.people, "_SCRYPT", {"n": 2**14, "r": 8, "p": 1})
    monkeypatch.setattr(docctl.stores.keys, "KDF", {"n": 2**14, "r": 8, "p": 1})

    key = Ed25519PrivateKey.generate()
    sealed, kdf = docctl.stores.keys.seal(key, PASSWORD)
    unlocks = []
    for _ in range(10):
        t0 = time.perf_counter()
        docctl.stores.keys.unseal(sealed, kdf, PASSWORD)
        unlocks.append(time.perf_counter() - t0)
    print(f"\nunlocking a signing key (scrypt n=2**14, r=8, p=1 + AES-GCM): median {_median_ms(unlocks)}")

    payload = b"tree " + b"a" * 40 + b"\nparent " + b"b" * 40 + b"\n" + b"x" * 600
    rounds = 5000
    t0 = time.perf_counter()
    signatures = [sshsig.sign(key, payload) for _ in range(rounds)]
    sign_us = (time.perf_counter() - t0) / rounds * 1e6
    t0 = time.perf_counter()
    for signature in signatures:
        sshsig.verify(signature, payload)
    verify_us = (time.perf_counter() - t0) / rounds * 1e6
    print(f"SSHSIG sign {sign_us:.0f} us, verify {verify_us:.0f} us a commit (in-process, one core)")

    instance = make_instance(tmp_path / "inst", FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    people = {p.login: p for p in instance.users.list()}
    release(instance, people, doc_id="P-00")  # first signatures: keys made and listed
    times = []
    for n in range(1, 21):
        wf = instance.workflow
        change = wf.create(
            people["author"],
            doc_id=f"P-{n:02d}",
            markdown=f"Tekst {n}.\n",
            reason="r",
            title="T",
            doc_type="procedure",
            unit="OR",
        )
        wf.submit(people["author"], change.number)
        wf.approve(people["approver"], change.number, password=PASSWORD)
        t0 = time.perf_counter()
        wf.approve(people["qm"], change.number, password=PASSWORD)  # the last signature releases
        times.append(time.perf_counter() - t0)
    print(
        f"release (last signature, key unlocked, every commit signed): p50 {_median_ms(times)}, "
        f"max {max(times) * 1000:.0f} ms"
    )

    main = list(instance.store.walk(["refs/heads/main"], first_parent=True, paths=True))[::-1]
    commits = {c.sha: c for c, _ in instance.store.walk(["refs/heads/main"], change_branches=True, bodies=False)}
    t0 = time.perf_counter()
    report = check_signatures(instance.store, main, commits)
    seconds = time.perf_counter() - t0
    per_commit = seconds / max(report.checked, 1)
    print(
        f"verify's signature pass: {report.checked} commits in {seconds * 1000:.0f} ms "
        f"({per_commit * 1e6:.0f} us a commit; 240,000 commits: ~{per_commit * 240_000:.0f} s), "
        f"{len(report.problems)} problems"
    )
    assert report.problems == []
