"""Change control: every transition × role, signatures, release, staleness, all read back from git."""

from __future__ import annotations

import multiprocessing
import subprocess
from datetime import date

import pytest
from conftest import DOC, PASSWORD, make_instance, release

from docctl.core.errors import Conflict, Forbidden, Invalid, Throttled, Unauthorized

OK = None


def git(instance, *args) -> str:
    return subprocess.run(
        ["git", f"--git-dir={instance.store.path}", *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def draft(instance, people):
    return instance.workflow.create(
        people["author"],
        doc_id="P-01",
        markdown=DOC,
        reason="Wydanie pierwsze",
        title="Nadzór",
        doc_type="procedure",
        unit="OR",
    )


@pytest.fixture
def in_review(instance, people, draft):
    return instance.workflow.submit(people["author"], draft.number)


def _do(instance, people, action, actor, number):
    wf, person = instance.workflow, people[actor]
    if action == "edit":
        head = wf.get(number).head
        return wf.edit(person, number, markdown=DOC + "\nZmiana.\n", expected_head=head)
    if action == "submit":
        return wf.submit(person, number)
    if action == "approve":
        return wf.approve(person, number, password=PASSWORD)
    if action == "reject":
        return wf.reject(person, number, password=PASSWORD, comment="Popraw zakres.")
    if action == "cancel":
        return wf.cancel(person, number)
    raise AssertionError(action)


@pytest.mark.parametrize(
    "action,actor,expected",
    [
        ("edit", "author", OK),
        ("edit", "author2", OK),
        ("edit", "qm", OK),
        ("edit", "reader", Forbidden),
        ("edit", "approver", Forbidden),
        ("edit", "auditor", Forbidden),
        ("edit", "admin", Forbidden),
        ("submit", "author", OK),
        ("submit", "reader", Forbidden),
        ("submit", "approver", Forbidden),
        ("approve", "approver", Forbidden),  # a draft cannot be signed
        ("reject", "approver", Forbidden),
        ("cancel", "author", OK),
        ("cancel", "qm", OK),
        ("cancel", "admin", OK),
        ("cancel", "author2", Forbidden),
        ("cancel", "reader", Forbidden),
    ],
)
def test_transitions_on_a_draft(instance, people, draft, action, actor, expected):
    if expected is OK:
        _do(instance, people, action, actor, draft.number)
    else:
        with pytest.raises(expected):
            _do(instance, people, action, actor, draft.number)
        assert instance.workflow.get(draft.number).head == draft.head  # nothing was written


@pytest.mark.parametrize(
    "action,actor,expected",
    [
        ("approve", "approver", OK),
        ("approve", "qm", OK),
        ("approve", "author", Forbidden),  # self-approval
        ("approve", "approver_fn", Forbidden),  # approver of another unit
        ("approve", "author2", Forbidden),
        ("approve", "reader", Forbidden),
        ("approve", "auditor", Forbidden),
        ("approve", "admin", Forbidden),
        ("reject", "approver", OK),
        ("reject", "qm", OK),
        ("reject", "author", Forbidden),
        ("reject", "reader", Forbidden),
        ("reject", "approver_fn", Forbidden),
        ("submit", "author", Conflict),  # already in review
        ("edit", "author", OK),
        ("cancel", "author", OK),
    ],
)
def test_transitions_in_review(instance, people, in_review, action, actor, expected):
    if expected is OK:
        _do(instance, people, action, actor, in_review.number)
    else:
        with pytest.raises(expected):
            _do(instance, people, action, actor, in_review.number)
        assert instance.workflow.get(in_review.number).head == in_review.head


@pytest.mark.parametrize(
    "actor,expected",
    [
        ("author", OK),
        ("qm2", OK),
        ("reader", Forbidden),
        ("approver", Forbidden),
        ("auditor", Forbidden),
        ("admin", Forbidden),
    ],
)
def test_who_may_open_a_change(instance, people, actor, expected):
    create = lambda: instance.workflow.create(
        people[actor],
        doc_id="P-09",
        markdown=DOC,
        reason="r",
        title="t",  # noqa: E731
        doc_type="procedure",
        unit="OR",
    )
    if expected is OK:
        assert create().state == "draft"
    else:
        with pytest.raises(expected):
            create()


def test_full_release_is_recorded_in_plain_git(instance, people):
    change = release(instance, people)
    assert change.state == "released"
    # main: the release is a merge whose trailers carry everything an auditor needs
    log = git(
        instance,
        "log",
        "--first-parent",
        "main",
        "-1",
        "--format=%P%n%(trailers:key=Document,valueonly)%(trailers:key=Revision,valueonly)"
        "%(trailers:key=Change,valueonly)%(trailers:key=Effective-Date,valueonly)"
        "%(trailers:key=Change-Reason,valueonly)%(trailers:key=Approved-by,valueonly)",
    )
    lines = log.strip().splitlines()
    assert len(lines[0].split()) == 2  # a merge of main and the change
    assert lines[1:] == [
        "P-01",
        "1",
        "1",
        "2026-03-02",
        "Wydanie pierwsze",
        "Approver <approver@um.example.pl>",
        "Qm <qm@um.example.pl>",
    ]
    assert git(instance, "log", "main", "--format=%(trailers:key=Document,valueonly)").split().count("P-01") >= 1
    # the change branch: every step, authored by the person who acted
    steps = git(
        instance,
        "log",
        "--reverse",
        "--first-parent",
        "changes/1",
        "--format=%an|%(trailers:key=Action,valueonly,separator=)|%(trailers:key=Change,valueonly,separator=)"
        "|%(trailers:key=Signature-Meaning,valueonly,separator=)|%(trailers:key=Role,valueonly,separator=)",
    )
    rows = [line for line in steps.splitlines() if line.split("|")[2] == "1"]
    assert rows == [
        "Author|create|1||",
        "Author|submit|1||",
        "Approver|approve|1|review|approver",
        "Qm|approve|1|approval|quality_manager",
        "Qm|release|1||",
    ]
    content = git(instance, "log", "-1", "--format=%(trailers:key=Content,valueonly)", "changes/1~1").strip()
    assert content == git(instance, "rev-parse", "main:documents/P-01.md").strip()  # signed = released bytes
    assert git(instance, "log", "-1", "--format=%cn", "main").strip() == "docctl"
    instance.store.fsck()


def test_revision_numbers_and_document_state(instance, people):
    release(instance, people)
    release(instance, people, text=DOC + "\n## 3. Odpowiedzialność\nKierownicy.\n", reason="Dodano odpowiedzialność")
    state = instance.catalog.document("P-01", instance.today())
    assert state.current.revision == 2 and state.status == "effective"
    assert [r.revision for r in instance.catalog.revisions("P-01")] == [2, 1]
    assert state.review_due == date(2027, 3, 2)


def test_wrong_password_and_throttling(instance, people, in_review):
    wf = instance.workflow
    with pytest.raises(Unauthorized):
        wf.approve(people["approver"], in_review.number, password="wrong-password")
    for _ in range(4):
        with pytest.raises(Unauthorized):
            wf.approve(people["approver"], in_review.number, password="wrong-password")
    with pytest.raises(Throttled):
        wf.approve(people["approver"], in_review.number, password=PASSWORD)  # even the right one, for now
    assert not wf.get(in_review.number).signatures
    instance.clock.advance(minutes=16)
    assert wf.approve(people["approver"], in_review.number, password=PASSWORD).signatures


def test_signing_twice_is_refused(instance, people, in_review):
    wf = instance.workflow
    wf.approve(people["qm"], in_review.number, password=PASSWORD)
    with pytest.raises(Forbidden, match="already signed"):
        wf.approve(people["qm"], in_review.number, password=PASSWORD)


def test_an_editor_may_not_sign(instance, people, in_review):
    wf = instance.workflow
    wf.edit(people["qm2"], in_review.number, markdown=DOC + "\nx\n", expected_head=wf.get(in_review.number).head)
    with pytest.raises(Forbidden, match="edited"):
        wf.approve(people["qm2"], in_review.number, password=PASSWORD)


def test_editing_after_a_signature_voids_it(instance, people, in_review):
    wf = instance.workflow
    signed = wf.approve(people["approver"], in_review.number, password=PASSWORD)
    assert len(signed.signatures) == 1
    edited = wf.edit(people["author"], in_review.number, markdown=DOC + "\nPoprawka.\n", expected_head=signed.head)
    assert not edited.signatures and len(edited.voided_signatures) == 1
    assert edited.voided_signatures[0].content != edited.blob
    wf.approve(people["qm"], in_review.number, password=PASSWORD)
    assert wf.get(in_review.number).state == "in_review"  # the voided review does not count
    assert wf.approve(people["approver"], in_review.number, password=PASSWORD).state == "released"


def test_rejection_voids_signatures_and_returns_to_draft(instance, people, in_review):
    wf = instance.workflow
    wf.approve(people["approver"], in_review.number, password=PASSWORD)
    rejected = wf.reject(people["qm"], in_review.number, password=PASSWORD, comment="Brak zakresu.")
    assert rejected.state == "draft" and not rejected.signatures
    assert rejected.events[-1].comment == "Brak zakresu."
    with pytest.raises(Invalid):
        wf.reject(people["qm"], in_review.number, password=PASSWORD, comment=" ")


def test_stale_edit_is_a_conflict_with_both_versions(instance, people, draft):
    wf = instance.workflow
    wf.edit(people["author"], draft.number, markdown=DOC + "\nA\n", expected_head=draft.head)
    with pytest.raises(Conflict) as err:
        wf.edit(people["author2"], draft.number, markdown=DOC + "\nB\n", expected_head=draft.head)
    assert "\nA\n" in err.value.detail["current_markdown"] and err.value.detail["yours"] == draft.head
    assert "\nA\n" in wf.content(wf.get(draft.number))


def test_two_changes_from_one_base_only_one_releases(instance, people):
    release(instance, people)
    wf = instance.workflow
    first = wf.create(people["author"], doc_id="P-01", markdown=DOC.replace("Cel", "Cel procedury"), reason="A")
    second = wf.create(people["author2"], doc_id="P-01", markdown=DOC + "\n## 9. Zapisy\nBrak.\n", reason="B")
    for change in (first, second):
        wf.submit(people["author"], change.number)
    wf.approve(people["approver"], first.number, password=PASSWORD)
    assert wf.approve(people["qm"], first.number, password=PASSWORD).state == "released"
    head_before = instance.store.head()
    with pytest.raises(Conflict) as err:
        wf.approve(people["approver"], second.number, password=PASSWORD)
    assert err.value.detail["needs_update"] and instance.store.head() == head_before
    updated = wf.update_to_current(people["author2"], second.number)
    assert updated.base_revision == 2 and updated.state == "draft"
    merged = wf.content(updated)
    assert "Cel procedury" in merged and "9. Zapisy" in merged  # both edits kept by the 3-way merge
    wf.submit(people["author2"], second.number)
    wf.approve(people["approver"], second.number, password=PASSWORD)
    assert wf.approve(people["qm"], second.number, password=PASSWORD).state == "released"
    assert instance.catalog.revisions("P-01")[0].revision == 3


def test_future_effective_date_becomes_current_on_its_day(instance, people):
    release(instance, people)
    release(instance, people, text=DOC + "\nNowe brzmienie.\n", reason="Nowe przepisy", effective_date=date(2026, 4, 1))
    state = instance.catalog.document("P-01", instance.today())
    assert state.current.revision == 1 and state.pending.revision == 2
    instance.clock.set_day(date(2026, 3, 31))
    assert instance.catalog.document("P-01", instance.today()).current.revision == 1
    instance.clock.set_day(date(2026, 4, 1), hour=0)
    state = instance.catalog.document("P-01", instance.today())
    assert state.current.revision == 2 and state.pending is None


def test_effective_date_in_the_past_is_refused(instance, people):
    with pytest.raises(Invalid, match="past"):
        instance.workflow.create(
            people["author"],
            doc_id="P-01",
            markdown=DOC,
            reason="r",
            title="t",
            doc_type="procedure",
            unit="OR",
            effective_date=date(2020, 1, 1),
        )


def test_withdrawal_goes_through_signatures(instance, people):
    release(instance, people)
    wf = instance.workflow
    change = wf.withdraw(people["author"], "P-01", reason="Zastąpiona przez P-07")
    assert change.state == "in_review" and change.kind == "withdraw"
    assert instance.catalog.document("P-01", instance.today()).status == "effective"
    wf.approve(people["approver"], change.number, password=PASSWORD)
    assert wf.approve(people["qm"], change.number, password=PASSWORD).state == "released"
    state = instance.catalog.document("P-01", instance.today())
    assert state.status == "obsolete" and state.withdraw_reason == "Zastąpiona przez P-07"
    assert "P-01" not in [s.doc_id for s in instance.catalog.master_list(instance.today())]
    assert (
        git(instance, "log", "-1", "--first-parent", "--format=%(trailers:key=Action,valueonly)", "main").strip()
        == "withdraw"
    )
    with pytest.raises(Conflict):
        wf.withdraw(people["author"], "P-01", reason="again")


def test_periodic_review_restarts_the_clock(instance, people):
    release(instance, people)
    instance.clock.set_day(date(2027, 2, 20))
    wf = instance.workflow
    with pytest.raises(Forbidden):
        wf.review(people["approver_fn"], "P-01", password=PASSWORD, comment="ok")
    with pytest.raises(Unauthorized):
        wf.review(people["approver"], "P-01", password="nope-nope-nope", comment="ok")
    wf.review(people["approver"], "P-01", password=PASSWORD, comment="Sprawdzono aktualność przepisów.")
    state = instance.catalog.document("P-01", instance.today())
    assert state.last_review == date(2027, 2, 20) and state.review_due == date(2028, 2, 20)
    assert state.current.revision == 1  # no new revision
    assert git(instance, "log", "-1", "--format=%(trailers:key=Action,valueonly)", "main").strip() == "review"


def test_reset_password_blocks_signing_until_changed(instance, people, in_review):
    instance.users.reset_password("approver", "temporary-pass-123")
    with pytest.raises(Forbidden):
        instance.workflow.approve(people["approver"], in_review.number, password="temporary-pass-123")
    instance.users.set_password("approver", "brand-new-password-1", old_password="temporary-pass-123")
    assert instance.workflow.approve(people["approver"], in_review.number, password="brand-new-password-1").signatures


def test_new_document_id_is_proposed_from_the_type(instance, people):
    release(instance, people, doc_id="IR-03", doc_type="instruction", signers=("approver",))
    change = instance.workflow.create(
        people["author"],
        doc_id=None,
        markdown="# Nowa\n\nTekst.",
        reason="r",
        title="Nowa instrukcja",
        doc_type="instruction",
        unit="OR",
    )
    assert change.doc_id == "IR-04"


def test_unit_add_is_a_policy_commit(instance, people):
    instance.workflow.add_unit(people["admin"], "ZP", "Biuro Zamówień Publicznych")
    assert instance.workflow.policy().units["ZP"] == "Biuro Zamówień Publicznych"
    assert git(instance, "log", "-1", "--format=%(trailers:key=Action,valueonly)", "main").strip() == "policy"


def _release_in_process(args):
    root, doc_id = args
    from conftest import PEOPLE  # noqa: F401 - the child imports the same fixtures module

    from docctl.ops.instance import Instance

    instance = Instance(root)
    people = {login: instance.users.get(login) for login in ("author", "approver", "qm")}
    change = release(instance, people, doc_id=doc_id, title=f"Dokument {doc_id}")
    return change.state


def test_several_processes_release_at_once(tmp_path, clock):
    instance = make_instance(tmp_path / "inst", clock)
    del instance
    ids = [f"P-{n:02d}" for n in range(1, 7)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        states = pool.map(_release_in_process, [(tmp_path / "inst", d) for d in ids])
    assert states == ["released"] * 6
    from docctl.ops.instance import Instance

    again = Instance(tmp_path / "inst")
    assert sorted(again.catalog.known_ids()) == ids
    again.store.fsck()


def test_releases_keep_the_repository_packed_and_the_reflogs(instance, people, monkeypatch, tmp_path):
    """Issue 12: git gc --auto runs after every release under the write lock; reflogs stay."""
    import subprocess

    from docctl.stores.git import GitStore

    calls = []
    original = GitStore.maintain
    monkeypatch.setattr(GitStore, "maintain", lambda self: calls.append(1) or original(self))
    release(instance, people)
    assert calls == [1]
    git = ["git", "--git-dir", str(instance.store.path)]
    paths = []
    for n in range(3000):  # years of loose objects, as gc --auto samples them
        paths.append(tmp_path / f"o{n}")
        paths[-1].write_text(f"obiekt {n}\n")
    subprocess.run(
        [*git, "hash-object", "-w", "--stdin-paths"], input="\n".join(map(str, paths)), text=True, check=True
    )
    subprocess.run([*git, "config", "gc.auto", "256"], check=True)
    release(instance, people, text=DOC + "\nDrugie.\n", reason="Drugie")
    assert calls == [1, 1]
    counts = dict(
        line.split(": ")
        for line in subprocess.run([*git, "count-objects", "-v"], capture_output=True, text=True).stdout.splitlines()
    )
    # Every loose object is packed by name (issue 33: no walk), the 3,000 unreachable blobs too.
    assert int(counts["packs"]) >= 1 and int(counts["in-pack"]) > 3000 and int(counts["count"]) < 100
    assert not (instance.store.path / "refs/heads/main").exists()  # refs packed too, and still read
    reflog = subprocess.run([*git, "reflog", "show", "main"], capture_output=True, text=True, check=True).stdout
    assert len(reflog.splitlines()) == 5  # init, two signers' keys listed, two releases: none pruned
    assert instance.catalog.revisions("P-01")[0].revision == 2
    assert instance.workflow.get(1).state == "released"


def test_a_revision_that_changes_nothing_is_refused(instance, people):
    """The same text again is no revision: submit says so and points to the periodic review."""
    from conftest import DOC, release

    from docctl.core.errors import Invalid

    release(instance, people, "P-01")
    wf = instance.workflow
    change = wf.create(people["author"], doc_id="P-01", markdown=DOC, reason="Bez zmian")
    with pytest.raises(Invalid, match="the same as P-01 revision 1"):
        wf.submit(people["author"], change.number)
    assert wf.get(change.number).state == "draft"


def test_many_small_packs_are_gathered_into_one_without_a_walk(instance):
    """Issue 33: past 50 small packs upkeep gathers them through the multi-pack-index (gc --auto
    would rewrite the whole repository); every object is still there."""
    import subprocess

    git = ["git", "--git-dir", str(instance.store.path)]
    blobs = []
    for n in range(55):
        blob = subprocess.run(
            [*git, "hash-object", "-w", "--stdin"], input=f"paczka {n}\n", capture_output=True, text=True, check=True
        ).stdout.strip()
        subprocess.run(
            [*git, "pack-objects", "-q", str(instance.store.path / "objects/pack/pack")],
            input=blob + "\n",
            capture_output=True,
            text=True,
            check=True,
        )
        blobs.append(blob)
    packs = lambda: len(list((instance.store.path / "objects/pack").glob("*.pack")))  # noqa: E731
    assert packs() > 50
    instance.store.maintain()
    assert packs() <= 3
    for blob in blobs:
        shown = subprocess.run([*git, "cat-file", "-p", blob], capture_output=True, text=True, check=True).stdout
        assert shown.startswith("paczka ")


def test_a_change_is_read_once_per_tip(instance, people, monkeypatch):
    """A change is its branch: read again at the same tip, it comes from memory (a signature
    read it three times, each a `git log` and a look into the documents folder); a new step,
    or a commit added with plain git, moves the tip and it is read from git again."""
    wf = instance.workflow
    change = wf.create(
        people["author"], doc_id="P-01", markdown=DOC, reason="Nowa", title="N", doc_type="procedure", unit="OR"
    )
    reads = []  # the tips read from git
    read = wf._read_change
    monkeypatch.setattr(wf, "_read_change", lambda number, head: reads.append(head) or read(number, head))
    first = wf.get(change.number)  # read once already, when the change was opened
    assert wf.get(str(change.number)) is first and reads == []
    wf.submit(people["author"], change.number)
    submitted = wf.get(change.number)
    assert submitted.state == "in_review" and submitted is not first and reads == [submitted.head]
    assert wf.get(change.number) is submitted and len(reads) == 1
    tree = subprocess.run(
        ["git", f"--git-dir={wf.store.path}", "rev-parse", f"{submitted.head}^{{tree}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    message = subprocess.run(
        ["git", f"--git-dir={wf.store.path}", "log", "-1", "--format=%B", submitted.head],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    forged = subprocess.run(  # the same step again, written with plain git
        ["git", f"--git-dir={wf.store.path}", "commit-tree", tree, "-p", submitted.head, "-F", "-"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "x",
            "GIT_AUTHOR_EMAIL": "x@x",
            "GIT_COMMITTER_NAME": "x",
            "GIT_COMMITTER_EMAIL": "x@x",
            "PATH": "/usr/bin:/bin",
        },
    ).stdout.strip()
    subprocess.run(
        ["git", f"--git-dir={wf.store.path}", "update-ref", f"refs/heads/changes/{change.number}", forged], check=True
    )
    assert wf.get(change.number).head == forged and reads == [submitted.head, forged]
