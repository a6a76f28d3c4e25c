"""Signatures that prove themselves (issue 29): every commit signed, each signature step by the
signer's own key, checked by stock git and by ``docctl verify``; forgeries with plain git named."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import PASSWORD, release
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from docctl.core import allowed_signers, sshsig
from docctl.core.commits import Identity, commit_object, format_message, split_signature, with_signature
from docctl.core.errors import Forbidden, Unauthorized
from docctl.stores.git import GitStore

SSH_KEYGEN = subprocess.run(["which", "ssh-keygen"], capture_output=True).returncode == 0
needs_ssh = pytest.mark.skipif(not SSH_KEYGEN, reason="ssh-keygen (OpenSSH) is not installed on this machine")


def git(instance, *args: str, input: bytes | None = None, env: dict | None = None) -> str:
    proc = subprocess.run(
        ["git", f"--git-dir={instance.store.path}", *args],
        input=input,
        capture_output=True,
        env={**os.environ, "TZ": "UTC", **(env or {})},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def signers_file(instance, tmp_path: Path) -> Path:
    path = tmp_path / "signers"
    path.write_text(git(instance, "show", f"main:{allowed_signers.PATH}"))
    return path


def verify_commit(instance, signers: Path, commit: str) -> subprocess.CompletedProcess:
    """The README's command for auditors: stock git with the allowed-signers file."""
    return subprocess.run(
        [
            "git",
            f"--git-dir={instance.store.path}",
            "-c",
            "gpg.format=ssh",
            "-c",
            f"gpg.ssh.allowedSignersFile={signers}",
            "verify-commit",
            "--raw",
            commit,
        ],
        capture_output=True,
        env={**os.environ, "TZ": "UTC"},
        check=False,
    )


def problems(instance) -> list[str]:
    return [f"{p.commit[:10]} {p.problem}" for p in instance.verify().problems]


# -- the format ---------------------------------------------------------------------------------
@needs_ssh
def test_an_sshsig_signature_is_what_ssh_keygen_verifies(tmp_path):
    key = Ed25519PrivateKey.generate()
    data = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nhello\n"
    (tmp_path / "data").write_bytes(data)
    (tmp_path / "data.sig").write_text(sshsig.sign(key, data))
    (tmp_path / "signers").write_text(f'a@example.pl namespaces="git" {sshsig.public_key_line(key.public_key())}\n')
    proc = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", tmp_path / "signers", "-I", "a@example.pl", "-n", "git"]
        + ["-s", tmp_path / "data.sig"],
        input=data,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sshsig.verify(sshsig.sign(key, data), data) == sshsig.raw_public_key(key.public_key())
    with pytest.raises(sshsig.BadSignature):
        sshsig.verify(sshsig.sign(key, data), data + b"x")


def test_a_commit_object_is_byte_for_byte_what_git_commit_tree_writes(tmp_path):
    store = GitStore.create(tmp_path / "repo.git")
    from datetime import datetime, timedelta, timezone

    when = datetime(2026, 3, 2, 10, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    author, committer = Identity("Jan Kowalski Jr.", "jan@example.pl"), Identity("docctl", "docctl@localhost")
    message = format_message("Zażółć gęślą jaźń", "treść", [("Action", "init")])
    proc = subprocess.run(
        ["git", f"--git-dir={store.path}", "commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"],
        input=message.encode(),
        capture_output=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": "1772442005 +0100",
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": "1772442005 +0100",
        },
    )
    ours = commit_object(
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904", [], message, author=author, committer=committer, when=when
    )
    theirs = subprocess.run(
        ["git", f"--git-dir={store.path}", "cat-file", "commit", proc.stdout.decode().strip()],
        capture_output=True,
        check=True,
    ).stdout
    assert ours == theirs
    key = Ed25519PrivateKey.generate()
    signed = with_signature(ours, sshsig.sign(key, ours))
    assert split_signature(signed) == (ours, sshsig.sign(key, ours))  # Ed25519 signatures are deterministic


# -- every commit signed, checked with stock git --------------------------------------------------
@needs_ssh
def test_every_commit_is_signed_and_stock_git_names_each_signer(instance, people, tmp_path):
    release(instance, people)
    signers = signers_file(instance, tmp_path)
    commits = git(instance, "rev-list", "main", "refs/docctl/anchors", "--glob=refs/heads/changes/*").split()
    for commit in commits:
        proc = verify_commit(instance, signers, commit)
        assert proc.returncode == 0, (commit, proc.stderr.decode())
    approvals = git(
        instance, "log", "--format=%H %(trailers:key=Action,valueonly)", "refs/heads/changes/1"
    ).splitlines()
    signed_steps = [line.split()[0] for line in approvals if line.endswith("approve")]
    assert len(signed_steps) == 2
    said = [verify_commit(instance, signers, sha).stderr.decode() for sha in signed_steps]
    named = {text.split("signature for ", 1)[1].split()[0] for text in said}
    assert named == {"approver@um.example.pl", "qm@um.example.pl"}
    others = set(commits) - set(signed_steps)
    assert all(
        "signature for docctl@localhost " in verify_commit(instance, signers, sha).stderr.decode() for sha in others
    )
    report = instance.verify()
    assert report.ok, report.problems
    assert report.signed_commits == len(commits)


def _readme_signature_commands() -> list[str]:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("Checking signatures with stock git", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith(("git ", "TZ=UTC git "))]


@needs_ssh
def test_the_readme_commands_for_auditors_check_every_signature(instance, people, tmp_path):
    release(instance, people)
    save, log, one = _readme_signature_commands()
    env = {"GIT_DIR": str(instance.store.path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(command: str) -> str:
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, (command, proc.stderr)
        return proc.stdout + proc.stderr

    run(save)
    lines = run(log).splitlines()
    assert len(lines) == len(git(instance, "rev-list", "main", "--glob=refs/heads/changes/*").split())
    assert all(line.split()[1] == "G" for line in lines), lines
    assert {line.split()[2] for line in lines} == {"docctl@localhost", "approver@um.example.pl", "qm@um.example.pl"}
    head = git(instance, "rev-parse", "main").strip()
    assert 'Good "git" signature for docctl@localhost' in run(one.replace("<commit>", head))


# -- forgeries are named --------------------------------------------------------------------------
def test_a_change_forged_with_plain_git_in_real_signers_names_is_named(instance, people):
    released = release(instance, people)
    # Copy the real change's steps with new text, commit by commit, and release it on main.
    head = instance.store.head("refs/heads/main")
    forged_blob = instance.store.write_blob(b"---\nid: P-01\n---\nForged.\n")
    tree = instance.store.tree_with(instance.store.commit(head).tree, {"documents/P-01.md": forged_blob})
    real = instance.store.commit(head)
    env = {
        "GIT_AUTHOR_NAME": "Qm",
        "GIT_AUTHOR_EMAIL": "qm@um.example.pl",
        "GIT_COMMITTER_NAME": "docctl",
        "GIT_COMMITTER_EMAIL": "docctl@localhost",
    }
    message = real.message.replace("revision 1", "revision 2").replace("Revision: 1", "Revision: 2")
    forged = git(instance, "commit-tree", tree, "-p", head, input=message.encode(), env=env).strip()
    git(instance, "update-ref", "-m", "docctl: release P-01 r2", "refs/heads/main", forged, head)
    found = problems(instance)
    assert any(forged[:10] in p and "not signed" in p for p in found), found
    assert released.state == "released"


def test_a_docctl_commit_amended_with_plain_git_is_named(instance, people):
    release(instance, people)
    head = instance.store.head("refs/heads/main")
    raw = git(instance, "cat-file", "commit", head).encode()
    amended = raw.replace(b"Wydanie pierwsze", b"Wydanie poprawione", 1)
    assert amended != raw and b"gpgsig" in amended
    sha = git(instance, "hash-object", "-t", "commit", "-w", "--stdin", input=amended).strip()
    git(instance, "update-ref", "-m", "docctl: release", "refs/heads/main", sha, head)
    found = problems(instance)
    assert any(sha[:10] in p and "does not match" in p for p in found), found


def test_a_signature_step_signed_by_the_instance_key_is_named(instance, people, monkeypatch):
    monkeypatch.setattr(type(instance.workflow), "unlock_signing_key", lambda self, actor, password: None)
    release(instance, people)
    monkeypatch.undo()
    found = problems(instance)
    assert sum("signed by the instance's key, not by the signer's own" in p for p in found) == 2, found


def test_a_key_added_to_allowed_signers_with_plain_git_is_named(instance, people):
    release(instance, people)
    head = instance.store.head("refs/heads/main")
    intruder = Ed25519PrivateKey.generate()
    text = git(instance, "show", f"main:{allowed_signers.PATH}")
    text += f'qm@um.example.pl namespaces="git" {sshsig.public_key_line(intruder.public_key())}\n'
    blob = instance.store.write_blob(text.encode())
    tree = instance.store.tree_with(instance.store.commit(head).tree, {allowed_signers.PATH: blob})
    message = format_message("Keys: signing key of Qm", "", [("Action", "keys"), ("Actor", "qm")])
    payload = commit_object(
        tree,
        [head],
        message,
        author=Identity("Qm", "qm@um.example.pl"),
        committer=Identity("docctl", "docctl@localhost"),
        when=instance.clock(),
    )
    raw = with_signature(payload, sshsig.sign(intruder, payload))  # signed by the key it adds
    sha = git(instance, "hash-object", "-t", "commit", "-w", "--stdin", input=raw).strip()
    git(instance, "update-ref", "-m", "docctl: keys", "refs/heads/main", sha, head)
    found = problems(instance)
    assert any(sha[:10] in p and "not trusted" in p for p in found), found


def test_a_long_history_read_in_halves_with_signatures_checked_early_names_the_same(instance, people, monkeypatch):
    """Issue 33: from 20,000 commits what main's line changed is found in two halves and the
    signatures are checked by a forked process as soon as every commit is read (given main's
    line and the signers' file changes, read apart). Here from 2 commits: the same problems are
    named — a key added with plain git among them — as by one pass checked after it; and when
    what the early check was given differs from main, it is checked again from main."""
    from docctl.audit import line_changes, signatures, verify

    test_a_key_added_to_allowed_signers_with_plain_git_is_named(instance, people)
    release(instance, people, "P-02", "Drugi.\n", reason="Drugi")
    whole = problems(instance)
    assert any("not trusted" in p for p in whole), whole
    monkeypatch.setattr(line_changes, "SPLIT_FROM", 2)
    monkeypatch.setattr(signatures, "BESIDE_FROM", 1)
    assert sorted(problems(instance)) == sorted(whole)
    given = []
    line = verify._first_parent_line
    monkeypatch.setattr(verify, "_first_parent_line", lambda *a: given.append(1) or [(c, {}) for c, _ in line(*a)])
    assert sorted(problems(instance)) == sorted(whole) and given


# -- key life -------------------------------------------------------------------------------------
def test_a_wrong_password_neither_signs_nor_writes_anything(instance, people):
    wf = instance.workflow
    change = wf.create(
        people["author"], doc_id="P-01", markdown="Tekst.\n", reason="R", title="T", doc_type="procedure", unit="OR"
    )
    wf.submit(people["author"], change.number)
    refs = git(instance, "for-each-ref")
    with pytest.raises(Unauthorized):
        wf.approve(people["approver"], change.number, password="wrong password")
    assert git(instance, "for-each-ref") == refs
    assert instance.keys.current("approver") is None


def test_old_signatures_verify_after_a_password_change_and_a_reset(instance, people, clock, tmp_path):
    release(instance, people)
    first_key = instance.keys.current("approver").public_key
    clock.advance(days=1)
    instance.accounts.change_password("approver", "Nowe-hasło-2026!", old_password=PASSWORD)
    assert instance.keys.current("approver").public_key == first_key  # re-sealed, the same key
    wf = instance.workflow
    second = wf.create(
        people["author"], doc_id="P-02", markdown="Drugi.\n", reason="Drugi", title="T", doc_type="procedure", unit="OR"
    )
    wf.submit(people["author"], second.number)
    wf.approve(people["approver"], second.number, password="Nowe-hasło-2026!")
    wf.approve(people["qm"], second.number, password=PASSWORD)
    clock.advance(days=1)
    # The reset closes the key: nobody can open it again (the old password is gone).
    admin = people["admin"]
    instance.accounts.reset_password(admin, "approver", "Tymczasowe-2026!")
    assert instance.keys.current("approver") is None
    instance.users.set_password("approver", "Jeszcze-inne-2026!", old_password="Tymczasowe-2026!")
    clock.advance(hours=1)
    wf = instance.workflow
    change = wf.create(people["author"], doc_id="P-01", markdown="Zmiana.\n", reason="Trzeci", title=None)
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password="Jeszcze-inne-2026!")
    assert instance.keys.current("approver").public_key != first_key
    keys = [
        k
        for k in allowed_signers.parse(git(instance, "show", f"main:{allowed_signers.PATH}"))
        if k.principal == "approver@um.example.pl"
    ]
    assert len(keys) == 2 and keys[0].valid_before is not None and keys[1].valid_before is None
    report = instance.verify()
    assert report.ok, report.problems
    assert any("first signature of approver@um.example.pl after a password reset" in n for n in report.notes)
    from docctl.derived.audit_trail import TrailQuery
    from docctl.reading import Reader

    events, _ = Reader(instance).audit_events(TrailQuery(action="signing_keys_changed"))
    assert any("after a password reset" in e.detail for e in events), [e.detail for e in events]
    if SSH_KEYGEN:
        signers = signers_file(instance, tmp_path)
        for sha in git(instance, "rev-list", "--glob=refs/heads/changes/*").split():
            assert verify_commit(instance, signers, sha).returncode == 0


def test_an_admin_never_signs(instance, people):
    with pytest.raises(Forbidden):
        instance.workflow.unlock_signing_key(people["admin"], PASSWORD)


def test_private_keys_appear_nowhere_in_clear(instance, people, tmp_path):
    release(instance, people)
    unlocked = instance.keys.unlock("approver", PASSWORD)
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = unlocked.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    import base64

    needles = [raw, base64.b64encode(raw), raw.hex().encode()]
    haystack = b""
    for path in Path(instance.root).rglob("*"):
        if path.is_file() and path.name != "signing_key":
            haystack += path.read_bytes()
    packed = subprocess.run(
        ["git", f"--git-dir={instance.store.path}", "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    for needle in needles:
        assert needle not in haystack and needle not in packed
    assert oct(os.stat(instance.root / "signing_key").st_mode & 0o777) == "0o600"


def test_the_instance_key_is_rotated_and_both_keys_verify(instance, people, clock, tmp_path):
    from click.testing import CliRunner

    from docctl.cli import main

    release(instance, people)
    old = instance.instance_key.public_key
    clock.advance(days=1)
    instance.rotate_instance_key()
    assert instance.instance_key.public_key != old
    instance.workflow.add_unit(people["admin"], "TST", "Test")
    listed = CliRunner().invoke(main, ["--instance", str(instance.root), "keys", "list"], catch_exceptions=False)
    assert listed.output.count("docctl@localhost") == 2
    keys = allowed_signers.parse(git(instance, "show", f"main:{allowed_signers.PATH}"))
    closed = [k for k in keys if k.key == old]
    assert closed and closed[0].valid_before is not None
    report = instance.verify()
    assert report.ok, report.problems
    if SSH_KEYGEN:
        signers = signers_file(instance, tmp_path)
        for sha in git(instance, "rev-list", "main").split():
            assert verify_commit(instance, signers, sha).returncode == 0, sha


def test_an_instance_from_before_signing_is_signed_from_its_first_start_on(tmp_path, clock, monkeypatch):
    """Upgrade: a history written without signatures is reported once, never as forgeries."""
    from conftest import make_instance

    from docctl.ops.instance import Instance
    from docctl.workflow.organization import Organization

    initialize = Organization.initialize
    with monkeypatch.context() as m:  # what an earlier version wrote: no allowed_signers, no signatures
        m.setattr(Organization, "initialize", lambda self, actor, policy, **_: initialize(self, actor, policy))
        m.setattr(Instance, "list_instance_key", lambda self: None)
        m.setattr(Instance, "_sign_as_instance", None)
        old = make_instance(tmp_path / "inst", clock)
        old.store.signer = None
        m.setattr(type(old.workflow), "unlock_signing_key", lambda self, actor, password: None)
        people = {p.login: p for p in old.users.list()}
        release(old, people)
    (old.root / "signing_key").unlink()
    clock.advance(days=30)
    upgraded = Instance(old.root, clock=clock)
    upgraded.start()  # lists its (new) key: signing begins here
    release(upgraded, people, doc_id="P-02", text="Drugi.\n")
    report = upgraded.verify()
    assert report.ok, report.problems
    assert any(n.startswith("signed from commit") for n in report.notes)
    assert report.signed_commits < report.commits  # the older history is not checked for signatures


def test_a_forgery_dated_before_signing_began_is_named_all_the_same(instance, people):
    """A forger may backdate: what descends from where signing began must be signed, whatever
    date it carries."""
    release(instance, people)
    head = instance.store.head("refs/heads/main")
    real = instance.store.commit(head)
    old = {"GIT_AUTHOR_DATE": "946684800 +0000", "GIT_COMMITTER_DATE": "946684800 +0000"}  # 2000-01-01
    env = {**old, "GIT_AUTHOR_NAME": "Qm", "GIT_AUTHOR_EMAIL": "qm@um.example.pl"}
    env.update(GIT_COMMITTER_NAME="docctl", GIT_COMMITTER_EMAIL="docctl@localhost")
    forged = git(instance, "commit-tree", real.tree, "-p", head, input=real.message.encode(), env=env).strip()
    git(instance, "update-ref", "-m", "docctl: release P-01 r1", "refs/heads/main", forged, head)
    found = problems(instance)
    assert any(forged[:10] in p and "not signed" in p for p in found), found


def test_a_long_history_is_checked_in_a_second_process_with_the_same_verdict(instance, people, monkeypatch):
    import docctl.audit.signatures

    release(instance, people)
    head = instance.store.head("refs/heads/main")
    raw = git(instance, "cat-file", "commit", head).encode().replace(b"Wydanie pierwsze", b"Wydanie inne", 1)
    sha = git(instance, "hash-object", "-t", "commit", "-w", "--stdin", input=raw).strip()
    git(instance, "update-ref", "-m", "docctl: release", "refs/heads/main", sha, head)
    in_process = instance.verify()
    monkeypatch.setattr(docctl.audit.signatures, "BESIDE_FROM", 1)
    forked = instance.verify()
    assert [p.problem for p in forked.problems] == [p.problem for p in in_process.problems]
    assert any("does not match" in p.problem for p in forked.problems)
    assert forked.signed_commits == in_process.signed_commits > 0


def test_an_admin_who_resets_a_password_cannot_sign_in_that_persons_name(instance, people, client, auth):
    """Tried from outside before issue 29: reset to a password of the admin's choosing, log in as
    the person, set a new one, sign. Now the temporary password goes to the person's e-mail only,
    and their key is closed, so their next signature is a new key the report names."""
    release(instance, people)
    auth.login("admin")
    token = auth.csrf("/admin/users/approver")
    answer = client.post(
        "/admin/users/approver/password",
        data={"admin_password": PASSWORD, "password": "Chosen-by-admin-1", "csrf_token": token},
        follow_redirects=True,
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "approver@um.example.pl" in page
    [mail] = [m for m in instance.outbox.messages(login="approver") if m.kind == "password_reset"]
    temporary = mail.body.split("temporary password: ", 1)[1].split()[0]
    assert temporary not in page and mail.email == "approver@um.example.pl"
    client.post("/logout", data={"csrf_token": auth.csrf("/")})
    assert auth.login("approver", "Chosen-by-admin-1").status_code != 302  # the admin's choice was ignored
    assert instance.keys.current("approver") is None  # the key closed: nobody can open it again
    with pytest.raises(Forbidden):  # the temporary password cannot sign either
        instance.users.check_signing_password("approver", temporary)


def test_the_cli_reset_mails_the_temporary_password_and_prints_none(instance, people):
    from click.testing import CliRunner

    from docctl.cli import main

    release(instance, people)
    result = CliRunner().invoke(
        main, ["--instance", str(instance.root), "user", "reset-password", "qm"], catch_exceptions=False
    )
    assert result.exit_code == 0 and "sent to qm@um.example.pl" in result.output
    [mail] = [m for m in instance.outbox.messages(login="qm") if m.kind == "password_reset"]
    assert mail.body.split("temporary password: ", 1)[1].split()[0] not in result.output
    assert instance.keys.current("qm") is None
    assert "closed (password reset)" in git(instance, "log", "-1", "--format=%s", "main")


def test_an_old_instance_used_from_the_cli_lists_its_own_key_before_a_signers(tmp_path, clock, monkeypatch):
    """Without a server start (which lists the instance key), a first signature through the CLI's
    Instance must not make a person's key the root of trust."""
    from conftest import make_instance

    from docctl.ops.instance import Instance
    from docctl.workflow.organization import Organization

    initialize = Organization.initialize
    with monkeypatch.context() as m:
        m.setattr(Organization, "initialize", lambda self, actor, policy, **_: initialize(self, actor, policy))
        m.setattr(Instance, "list_instance_key", lambda self: None)
        old = make_instance(tmp_path / "inst", clock)
    opened = Instance(old.root, clock=clock)  # as `docctl` opens it: no start()
    people = {p.login: p for p in opened.users.list()}
    release(opened, people)
    listed = allowed_signers.parse(git(opened, "show", f"main:{allowed_signers.PATH}"))
    assert listed[0].principal == "docctl@localhost"
    report = opened.verify()
    assert report.ok, report.problems
