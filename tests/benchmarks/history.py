"""Generate a long docctl history (N documents × R revisions) in docctl's exact repository format.

Every revision goes through the same commits the workflow writes — on ``refs/heads/changes/<N>``:
create, submit, two signatures (review by the unit's approver, approval by the quality manager)
and the release marker; on ``main``: the release merge with its trailers — but written in one
``git fast-import`` stream instead of ~10 processes per step, so 2,000 × 20 (216,000 commits)
takes minutes. Signed as docctl signs (issue 29): fast-import cannot write a ``gpgsig`` header, so
a second pass rewrites every generated commit in order, signed — each signature step with its
signer's own key (listed before the history begins), everything else with the instance's — and
writes them as one pack (``git index-pack``). ``tests/test_history_generator.py`` checks that a
generated history reads back exactly as one grown through the workflow, and that the workflow
carries on from it.

    python tests/benchmarks/history.py DIR --documents 2000 --revisions 20
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from docctl.assets import asset_dir
from docctl.core import sshsig
from docctl.core.commits import format_message, split_signature, with_signature
from docctl.core.documents import Metadata, compose_document, split_front_matter
from docctl.core.policy import parse_policy
from docctl.core.records import Signature
from docctl.ops.instance import Instance

sys.path.insert(0, str(Path(__file__).parent))
from packing import OBJ_BLOB, OBJ_COMMIT, FlatTree, PackWriter, object_id  # noqa: E402 - beside this file

PASSWORD = "bench-password-2026"
PEOPLE = {
    "author": ("Anna Autorka", ["author"], ["OR"]),
    "approver": ("Piotr Kierownik", ["approver"], ["OR"]),
    "qm": ("Maria Pełnomocnik", ["quality_manager"], []),
    "reader": ("Jan Czytelnik", ["reader"], []),
}
START = datetime(2019, 1, 7, 8, 0, tzinfo=UTC)


def sample_paragraphs() -> list[str]:
    """Real Polish procedure text from the sample set, cut into paragraphs (realistic vocabulary)."""
    paragraphs = []
    for path in sorted((asset_dir("docs_repo") / "documents").glob("*.md")):
        body = split_front_matter(path.read_text(encoding="utf-8"))[1]
        paragraphs += [p.strip() for p in body.split("\n\n") if p.strip() and not p.startswith("#")]
    return paragraphs


class _Stream:
    """A ``git fast-import`` process with ``get-mark`` answers read back from its stdout."""

    def __init__(self, git_dir: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", f"--git-dir={git_dir}", "fast-import", "--quiet", "--cat-blob-fd=1", "--done"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.mark = 0

    def write(self, text: str | bytes) -> None:
        self.proc.stdin.write(text.encode() if isinstance(text, str) else text)

    def new_mark(self) -> int:
        self.mark += 1
        return self.mark

    def commit(self, ref, *, author, when, message, parent, merge=None, files=()) -> int:
        mark = self.new_mark()
        stamp = f"{int(when.timestamp())} +0000"
        data = message.encode()
        self.write(f"commit {ref}\nmark :{mark}\n")
        self.write(f"author {author[0]} <{author[1]}> {stamp}\ncommitter docctl <docctl@localhost> {stamp}\n")
        self.write(f"data {len(data)}\n")
        self.write(data)
        self.write(f"from {parent}\n")
        if merge:
            self.write(f"merge {merge}\n")
        for path, tree_id in files:  # a tree written by packing.FlatTree, linked unread
            self.write(f"M 040000 {tree_id} {path}\n")
        self.write("\n")
        return mark

    def sha(self, mark: int) -> str:
        self.write(f"get-mark :{mark}\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().decode().strip()

    def close(self) -> None:
        self.write("done\n")
        self.proc.stdin.close()
        self.proc.stdout.close()
        if self.proc.wait() != 0:
            raise RuntimeError("git fast-import failed")


def generate(root: Path, documents: int, revisions: int, *, progress=print) -> Instance:
    """A new instance at ``root`` whose history holds ``documents`` × ``revisions`` releases."""
    policy = parse_policy((asset_dir("docs_repo") / ".docctl" / "policy.yaml").read_text(encoding="utf-8"))
    # The instance and the signers' keys exist from the day before the history begins.
    instance = Instance.create(
        root, admin_login="admin", admin_password=PASSWORD, policy=policy, clock=lambda: START - timedelta(days=1)
    )
    for login, (name, roles, units) in PEOPLE.items():
        instance.users.add(
            login, name=name, email=f"{login}@um.example.pl", roles=roles, units=units, password=PASSWORD
        )
    keys = {
        login: instance.workflow.unlock_signing_key(instance.users.get(login), PASSWORD) for login in ("approver", "qm")
    }
    with instance.users._db() as conn:  # the people existed when the generated history began
        conn.execute("UPDATE users SET created_at=?", ((START - timedelta(days=1)).isoformat(),))
    ident = {login: (name, f"{login}@um.example.pl") for login, (name, _, _) in PEOPLE.items()}
    paragraphs = sample_paragraphs()
    rng = random.Random(2026)
    started = time.monotonic()
    # Pass 1: every text and every documents/ tree straight into a pack (see packing.py).
    pack = PackWriter(instance.store.path)
    documents_tree = FlatTree(pack)
    plan = []
    for revision in range(1, revisions + 1):
        for doc in range(1, documents + 1):
            doc_id = f"P-{doc:04d}"
            body = f"# Procedura {doc}\n\n## 1. Cel\nRewizja {revision}.\n\n" + "\n\n".join(rng.sample(paragraphs, 6))
            text = compose_document(Metadata(doc_id, f"Procedura {doc}", "procedure", "OR", 12), body).encode()
            blob_id = object_id("blob", text)
            pack.whole(OBJ_BLOB, text, blob_id)
            plan.append((doc, revision, blob_id.hex(), documents_tree.set(f"{doc_id}.md", blob_id)))
        progress(f"texts and trees of round {revision}/{revisions}: {time.monotonic() - started:.0f} s")
    del documents_tree
    pack.close()
    progress(f"{pack.count} texts and trees packed and indexed: {time.monotonic() - started:.0f} s")
    # Pass 2: the commits, through fast-import.
    stream = _Stream(instance.store.path)
    main = main_before = instance.store.head()
    number = 0
    for doc, revision, blob_sha, tree_id in plan:
        number += 1
        when = START + timedelta(days=70 * (revision - 1), seconds=40 * doc)
        main = _one_release(stream, ident, number, f"P-{doc:04d}", revision, when, main, tree_id, blob_sha)
        if doc == documents:
            progress(f"revision round {revision}/{revisions}: {number} releases, {time.monotonic() - started:.0f} s")
    stream.close()
    started_signing = time.monotonic()
    signed = _sign_history(instance, before_history=main_before, keys=keys)
    progress(f"{signed} commits signed in {time.monotonic() - started_signing:.0f} s")
    _write_reflog(instance.store.path)
    # As `git gc --auto` leaves a repository years old: refs packed, the commit-graph written.
    for args in (["pack-refs", "--all"], ["commit-graph", "write", "--reachable", "--no-progress"]):
        subprocess.run(["git", f"--git-dir={instance.store.path}", *args], capture_output=True, check=True)
    # Derived data is rebuilt from the new history at the next start-up, as after `docctl reindex`.
    with instance.workflow.change_index._connect() as conn:
        conn.execute("DELETE FROM changes")
        conn.execute("DELETE FROM change_meta")
    shutil.rmtree(root / "search")
    shutil.rmtree(root / "search-all")  # (indexed at the first commit: a catch-up would be one writer)
    return Instance(root)  # on the real clock again


def _one_release(stream, ident, number, doc_id, revision, when, main, tree_id, blob_sha) -> str:
    """The commits of one change from creation to release; returns the new ``main`` mark."""
    ref, path = f"refs/heads/changes/{number}", "documents"
    title, reason = f"Procedura {doc_id[2:].lstrip('0')}", f"Przegląd {revision}"
    base_commit = stream.sha(int(main[1:])) if main.startswith(":") else main

    def carry(action: str, state: str, actor: str) -> list[tuple[str, str]]:
        return [
            ("Change", str(number)),
            ("Action", action),
            ("Document", doc_id),
            ("Kind", "new" if revision == 1 else "revise"),
            ("State", state),
            ("Title", title),
            ("Change-Reason", reason),
            ("Base-Commit", base_commit),
            ("Base-Revision", str(revision - 1)),
            ("Prepared-by", f"{ident['author'][0]} <{ident['author'][1]}>"),
            ("Prepared-by-Login", "author"),
            ("Actor", actor),
        ]

    verb = "new document" if revision == 1 else "revise"
    head = stream.commit(
        ref,
        author=ident["author"],
        when=when,
        message=format_message(f"Change {number}: {verb} {doc_id}", reason, carry("create", "draft", "author")),
        parent=main,
        files=[(path, tree_id)],
    )
    head = stream.commit(
        ref,
        author=ident["author"],
        when=when + timedelta(minutes=1),
        message=format_message(f"Change {number}: submit", "", carry("submit", "in_review", "author")),
        parent=f":{head}",
    )
    signatures = []
    for minutes, (login, role, meaning) in enumerate(
        (("approver", "approver", "review"), ("qm", "quality_manager", "approval")), start=2
    ):
        at = when + timedelta(minutes=minutes)
        signature = Signature(ident[login][0], ident[login][1], role, meaning, at, login, blob_sha)
        signatures.append(signature)
        trailers = carry("approve", "in_review", login) + [
            ("Signed-by", f"{signature.name} <{signature.email}>"),
            ("Signature-Meaning", meaning),
            ("Role", role),
            ("Content", blob_sha),
            ("Signature", signature.trailer()),
        ]
        head = stream.commit(
            ref,
            author=ident[login],
            when=at,
            message=format_message(f"Change {number}: {meaning} signed by {signature.name}", "", trailers),
            parent=f":{head}",
        )
    released_at = when + timedelta(minutes=3)
    marker = stream.commit(
        ref,
        author=ident["qm"],
        when=released_at,
        message=format_message(f"Change {number}: released", "", carry("release", "released", "qm")),
        parent=f":{head}",
    )
    trailers = [
        ("Action", "release"),
        ("Document", doc_id),
        ("Revision", str(revision)),
        ("Change", str(number)),
        ("Effective-Date", released_at.date().isoformat()),
        ("Change-Reason", reason),
        ("Prepared-by", f"{ident['author'][0]} <{ident['author'][1]}>"),
    ]
    trailers += [("Approved-by", f"{s.name} <{s.email}>") for s in signatures]
    trailers += [("Signature", s.trailer()) for s in signatures]
    merge = stream.commit(
        "refs/heads/main",
        author=ident["qm"],
        when=released_at,
        message=format_message(f"Release {doc_id} revision {revision}: {title}", reason, trailers),
        parent=main,
        merge=f":{marker}",
        files=[(path, tree_id)],
    )
    return f":{merge}"


_BASE = re.compile(rb"(\nBase-Commit: )([0-9a-f]{40})")


def _new_id(mapped: dict[str, str], old: bytes) -> bytes:
    """A commit's id after the signing pass (the same when it was not rewritten)."""
    return mapped.get(old.decode(), old.decode()).encode()


def _sign_history(instance: Instance, *, before_history: str, keys: dict) -> int:
    """Rewrite every commit written since ``before_history``, parents first, each signed as
    docctl signs it; one pack of the new commits, then main and the change branches moved onto
    them. The unsigned originals are left unreachable (``git gc`` drops them)."""
    git_dir = str(instance.store.path)
    refs = dict(
        line.split(" ", 1)[::-1]
        for line in subprocess.run(
            ["git", f"--git-dir={git_dir}", "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    )
    order = subprocess.run(  # the tips on stdin: 200,000 change branches do not fit a command line
        ["git", f"--git-dir={git_dir}", "rev-list", "--topo-order", "--reverse", "--stdin"],
        input="".join(f"{tip}\n" for tip in refs.values()) + f"^{before_history}\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    instance_key = instance.instance_key.private
    mapped: dict[str, str] = {}
    pack = PackWriter(git_dir)
    for sha, raw in instance.store.blobs(order):
        header, _, message = raw.partition(b"\n\n")
        # a change names the commit of main it starts from: that commit's new id (written before
        # it, parents first), or `git log BASE..CHANGE` would walk main's whole line
        message = _BASE.sub(lambda m: m.group(1) + _new_id(mapped, m.group(2)), message)
        lines = [
            b"parent " + mapped[line[7:].decode()].encode()
            if line.startswith(b"parent ") and line[7:].decode() in mapped
            else line
            for line in header.split(b"\n")
        ]
        payload, _ = split_signature(b"\n".join(lines) + b"\n\n" + message)
        signer = instance_key
        if b"\nAction: approve\n" in message:
            actor = message.split(b"\nActor: ", 1)[1].split(b"\n", 1)[0].decode()
            signer = keys[actor].private
        data = with_signature(payload, sshsig.sign(signer, payload))
        commit_id = object_id("commit", data)
        mapped[sha] = commit_id.hex()
        pack.whole(OBJ_COMMIT, data, commit_id)
    pack.close()
    updates = "".join(f"update {ref} {mapped[old]} {old}\n" for ref, old in refs.items() if old in mapped)
    subprocess.run(
        ["git", f"--git-dir={git_dir}", "update-ref", "--stdin"],
        input=updates.encode(),
        capture_output=True,
        check=True,
    )
    return len(order)


def _write_reflog(git_dir: Path) -> None:
    """The reflog of ``main`` as docctl's own writes leave it: one entry per release, each from
    the previous head (fast-import records one jump for the whole stream, which `verify` would
    rightly report as main moved outside docctl)."""
    out = subprocess.run(
        [
            "git",
            f"--git-dir={git_dir}",
            "log",
            "--first-parent",
            "--reverse",
            "--format=%H %P%x1f%cn <%ce> %ct +0000%x1f%s",
            "main",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = []
    for record in out.splitlines():
        shas, who, subject = record.split("\x1f")
        new, *parents = shas.split()
        old = parents[0] if parents else "0" * 40
        verb = subject.split(" ", 3)
        message = "docctl: init" if not parents else f"docctl: {verb[0].lower()} {verb[1]} r{verb[3].split(':')[0]}"
        lines.append(f"{old} {new} {who}\t{message}\n")
    (git_dir / "logs" / "refs" / "heads" / "main").write_text("".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--revisions", type=int, default=10)
    args = parser.parse_args()
    started = time.monotonic()
    instance = generate(args.directory, args.documents, args.revisions, progress=lambda m: print(m, file=sys.stderr))
    print(f"generated in {time.monotonic() - started:.0f} s; catching up catalog and search index…", file=sys.stderr)
    instance.start()
    print(f"ready in {time.monotonic() - started:.0f} s: {args.directory}", file=sys.stderr)


if __name__ == "__main__":
    main()
