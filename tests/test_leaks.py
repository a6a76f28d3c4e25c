"""Long-running processes must not leak: GitPython's persistent `cat-file` processes and file
descriptors are the usual suspects. Thousands of reads through the app leave no growth."""

from __future__ import annotations

import os

from conftest import DOC, release


def _children() -> int:
    own, count = str(os.getpid()), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                count += handle.read().rsplit(")", 1)[1].split()[1] == own
        except (OSError, IndexError):
            continue
    return count


def test_thousands_of_requests_leak_nothing(app, instance, people):
    release(instance, people)
    release(instance, people, text=DOC + "\nDruga rewizja.\n", reason="Druga")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {instance.users.create_token('reader')}"}
    paths = [
        "/api/v1/documents/P-01",
        "/api/v1/documents/P-01/revisions",
        "/api/v1/documents/P-01/revisions/1",
        "/api/v1/documents/P-01/diff?from=1&to=2",
        "/api/v1/documents",
        "/api/v1/search?q=nadzór",
    ]
    for path in paths:  # warm-up: imports, caches, the search index's open files
        assert client.get(path, headers=headers).status_code == 200
    fds, children = len(os.listdir("/proc/self/fd")), _children()
    for n in range(2400):
        assert client.get(paths[n % len(paths)], headers=headers).status_code == 200
    assert len(os.listdir("/proc/self/fd")) <= fds
    assert _children() <= children
