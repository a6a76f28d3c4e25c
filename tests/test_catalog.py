"""The catalog is a cache of main: incremental catch-up equals a rebuild, and it never trusts a
rewritten history."""

from __future__ import annotations

import subprocess

from conftest import DOC, release

from docctl.stores.git import ZERO_SHA


def snapshot(catalog):
    return [tuple(row) for row in catalog.all_records()]


def test_catch_up_equals_rebuild(instance, people):
    release(instance, people)
    release(instance, people, doc_id="P-02", title="Zapisy", text="# Zapisy\n")
    release(instance, people, text=DOC + "\nDodatek.\n", reason="Dodatek")
    incremental = snapshot(instance.catalog)
    instance.catalog.path.unlink()
    instance.catalog.rebuild()
    assert snapshot(instance.catalog) == incremental
    assert [r.revision for r in instance.catalog.revisions("P-01")] == [2, 1]


def test_catalog_catches_up_with_another_process(instance, people):
    from docctl.ops.instance import Instance

    other = Instance(instance.root)  # a second process would see the same files
    release(instance, people)
    assert other.catalog.known_ids() == {"P-01"}


def test_rewritten_history_forces_a_rebuild(instance, people):
    release(instance, people)
    release(instance, people, doc_id="P-02", title="Zapisy", text="# Zapisy\n")
    assert instance.catalog.known_ids() == {"P-01", "P-02"}
    # behind docctl's back: main is reset to an earlier commit (a rewrite, as far as the cache knows)
    first = subprocess.run(
        ["git", f"--git-dir={instance.store.path}", "rev-list", "--max-parents=0", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    instance.store.update_refs([("refs/heads/main", first, instance.store.head())])
    assert instance.catalog.known_ids() == frozenset()
    assert ZERO_SHA not in (instance.catalog.recorded_commit() or "")


def test_master_list_reads_only_what_matters_yet_equals_the_full_state(instance, people):
    """Issue 12: the master list skips superseded rows in SQL; every state must stay the same."""
    from datetime import date

    release(instance, people)
    instance.workflow.review(people["approver"], "P-01", password="correct-horse-battery", comment="r1 OK")
    release(instance, people, text=DOC + "\nDwa.\n", reason="Dwa")
    release(instance, people, text=DOC + "\nTrzy.\n", reason="Trzy", effective_date=date(2026, 6, 1))
    release(instance, people, doc_id="P-02", title="Zapisy", text="# Zapisy\n\nTekst.\n")
    instance.workflow.review(people["approver"], "P-02", password="correct-horse-battery", comment="OK")
    change = instance.workflow.withdraw(people["author"], "P-02", reason="Zbędna")
    for signer in ("approver", "qm"):
        instance.workflow.approve(people[signer], change.number, password="correct-horse-battery")
    for day in (date(2026, 3, 2), date(2026, 6, 1), date(2027, 1, 1)):
        listed = {s.doc_id: s for s in instance.catalog.master_list(day, include_obsolete=True)}
        assert listed == {d: instance.catalog.document(d, day) for d in ("P-01", "P-02")}, day


def test_a_document_is_read_once_per_main_head(instance, people, clock, monkeypatch):
    """Issue 12: a page view built every revision of its document from rows on every request;
    now the state is kept per (document, day, main head) and a new head is seen at once — also
    when another process moved main."""
    from docctl.derived import catalog as catalog_module
    from docctl.ops.instance import Instance

    release(instance, people)
    today = instance.today()
    built = []
    real = catalog_module._state
    monkeypatch.setattr(catalog_module, "_state", lambda *a: built.append(a[0]) or real(*a))
    first = instance.catalog.document("P-01", today)
    assert instance.catalog.document("P-01", today) is first
    assert built == ["P-01"]

    release(Instance(instance.root, clock=clock), people, text=DOC + "\nDwa.\n", reason="Dwa")  # another process
    built.clear()
    second = instance.catalog.document("P-01", today)
    assert second.current.revision == 2 and built == ["P-01"]
    assert [r.revision for r in instance.catalog.revisions("P-01")] == [2, 1]


def test_a_rebuild_reads_older_files_later_and_no_reader_sees_it(instance, people, clock):
    """Issue 33: a rebuild reads only the files of the revisions in force today and later (at
    20,000 documents each lookup inflates an 800 KB folder); the older ones are read by
    fill_files(). Meanwhile every read resolves them from git, so it answers as a full rebuild."""
    from datetime import date

    from docctl.core.records import RELEASES
    from docctl.derived.catalog import LATER

    release(instance, people)
    instance.workflow.review(people["approver"], "P-01", password="correct-horse-battery", comment="r1 OK")
    clock.set_day(date(2026, 4, 1))
    release(instance, people, text=DOC + "\nDwa.\n", reason="Dwa")
    release(instance, people, text=DOC + "\nTrzy.\n", reason="Trzy", effective_date=date(2026, 6, 1))
    release(instance, people, doc_id="P-02", title="Zapisy", text="# Zapisy\n\nTekst.\n")
    change = instance.workflow.withdraw(people["author"], "P-02", reason="Zbędna")
    for signer in ("approver", "qm"):
        instance.workflow.approve(people[signer], change.number, password="correct-horse-battery")
    catalog = instance.catalog
    days = (date(2026, 3, 2), date(2026, 4, 1), date(2026, 6, 1))
    full = snapshot(catalog)
    seen = [catalog.revisions("P-01"), *(catalog.master_list(d, include_obsolete=True) for d in days)]
    with instance.store.reader() as reader:
        indexed = instance.indexer.entries_for(["P-01", "P-02"], reader)  # every revision (scope=all)

    catalog.rebuild(trail=False, today=instance.today())
    with catalog._connect() as conn:
        later = conn.execute("SELECT doc_id, action, revision FROM records WHERE blob=? ORDER BY seq", (LATER,))
        assert [tuple(r) for r in later] == [("P-01", "release", 1), ("P-01", "review", 1)]
    other = type(catalog)(catalog.path, instance.store)  # another process, nothing kept
    for reader in (catalog, other):
        assert [reader.revisions("P-01"), *(reader.master_list(d, include_obsolete=True) for d in days)] == seen
        assert reader.document("P-01", days[0]) == seen[1][0]
        releases = [dict(r) for r in reader.all_records() if r["action"] in RELEASES]
        assert [tuple(r.values()) for r in releases] == [r for r in full if r[2] in RELEASES]
    with instance.store.reader() as reader:
        assert instance.indexer.entries_for(["P-01", "P-02"], reader) == indexed

    assert catalog.fill_files() == 1
    assert snapshot(catalog) == full  # the review's row took its release's values too
    assert catalog.fill_files() == 0
    with catalog._connect() as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE key='files'").fetchone()[0] == 0
