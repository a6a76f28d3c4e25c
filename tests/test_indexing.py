"""The search index follows git through the workflow: after-commit updates, catch-up, rebuild."""

from __future__ import annotations

import shutil
from datetime import date

from conftest import DOC, release


def ids(instance, q, **kw):
    return [h.doc_id for h in instance.search.search(q, at=instance.today(), **kw).hits]


def test_release_is_searchable_at_once(instance, people):
    release(instance, people, text=DOC + "\nAudyt wewnętrzny przeprowadza zespół audytorów.\n")
    assert ids(instance, "audytów") == ["P-01"]
    assert instance.search.indexed_commit() == instance.store.head()


def test_only_the_current_revision_by_default_and_all_on_request(instance, people):
    release(instance, people, text=DOC + "\nStary wymóg: faks.\n")
    release(instance, people, text=DOC + "\nNowy wymóg: poczta elektroniczna.\n", reason="Bez faksu")
    assert ids(instance, "faks") == []
    hits = instance.search_all.search("faks", at=instance.today(), scope="all").hits
    assert [(h.doc_id, h.revision) for h in hits] == [("P-01", 1)]


def test_future_revision_becomes_searchable_on_its_day(instance, people):
    release(instance, people)
    release(instance, people, text=DOC + "\nRejestr ryzyk.\n", reason="Ryzyka", effective_date=date(2026, 5, 1))
    assert ids(instance, "ryzyk") == []
    instance.clock.set_day(date(2026, 5, 1))
    assert ids(instance, "ryzyk") == ["P-01"]


def test_obsolete_documents_leave_default_search(instance, people):
    from conftest import PASSWORD

    release(instance, people)
    change = instance.workflow.withdraw(people["author"], "P-01", reason="Zbędna")
    instance.workflow.approve(people["approver"], change.number, password=PASSWORD)
    instance.workflow.approve(people["qm"], change.number, password=PASSWORD)
    assert ids(instance, "nadzór") == []
    assert ids(instance, "nadzór", include_obsolete=True) == ["P-01"]


def test_drafts_are_found_by_their_author_only(instance, people):
    instance.workflow.create(
        people["author"],
        doc_id="P-03",
        markdown="# Szkolenia\n\nPlan szkoleń BHP.",
        reason="r",
        title="Szkolenia",
        doc_type="procedure",
        unit="OR",
    )
    assert ids(instance, "szkoleń", user="author") == ["P-03"]
    assert ids(instance, "szkoleń", user="reader") == []


def test_catch_up_after_the_index_falls_behind(instance, people):
    from docctl.ops.instance import Instance

    release(instance, people)
    behind = instance.search.indexed_commit()
    other = Instance(instance.root, clock=instance.clock)  # another process: its listener updates the index...
    other.catalog.listeners.clear()  # ...unless it died before doing so
    other_people = {k: other.users.get(k) for k in ("author", "approver", "qm")}
    release(other, other_people, doc_id="P-02", title="Zapisy", text="# Zapisy\n\nArchiwizacja akt.\n")
    assert instance.search.indexed_commit() == behind and ids(instance, "archiwizacja") == []
    instance.start()  # start-up catch-up
    assert ids(instance, "archiwizacja") == ["P-02"]
    assert instance.search.indexed_commit() == instance.store.head()


def test_rebuild_from_a_deleted_or_corrupted_index(instance, people):
    release(instance, people, text=DOC + "\nReklamacje klientów.\n")
    shutil.rmtree(instance.root / "search")
    instance.start()
    assert ids(instance, "reklamacji") == ["P-01"]
    for path in (instance.root / "search").rglob("*.seg"):
        path.write_bytes(b"garbage")
    for path in (instance.root / "search").rglob("_MAIN_*.toc"):
        path.write_bytes(b"garbage")
    instance.start()
    assert ids(instance, "reklamacji") == ["P-01"]


def test_a_release_writes_one_entry_per_index_whatever_the_history(instance, people, monkeypatch):
    """Issue 12: revision 6 indexes revision 6 (and closes revision 5 in the all-revisions index),
    not every revision of the document again."""
    from docctl.derived.search import SearchIndex

    for n in range(1, 6):
        release(instance, people, text=DOC + f"\nWydanie {n}.\n", reason=f"Wydanie {n}")
    calls = []
    original = SearchIndex.apply

    def spy(self, upserts, deletes=(), *, commit=None):
        upserts = list(upserts)
        calls.append((self.path.name, sorted(e.key for e in upserts)))
        return original(self, upserts, deletes, commit=commit)

    monkeypatch.setattr(SearchIndex, "apply", spy)
    release(instance, people, text=DOC + "\nWydanie 6.\n", reason="Wydanie 6")
    released = [c for c in calls if c[1] and not c[1][0].startswith("change:")]
    assert released == [("search", ["P-01@6"]), ("search-all", ["P-01@5", "P-01@6"])]
    assert len(instance.search.keys()) == 1 and len(instance.search_all.keys()) == 6
    assert ids(instance, "wydanie") == ["P-01"]
    old = instance.search_all.search("wydanie", at=instance.today(), scope="all").hits
    assert sorted(h.revision for h in old) == [1, 2, 3, 4, 5, 6]


def test_the_all_revisions_index_catches_up_and_rebuilds(instance, people):
    release(instance, people)
    shutil.rmtree(instance.root / "search-all")
    release(instance, people, text=DOC + "\nDrugie.\n", reason="Drugie")  # all index missing: skipped
    assert not instance.search_all.exists()
    instance.start()  # builds it (servers do it in the background)
    assert sorted(instance.search_all.keys()) == ["P-01@1", "P-01@2"]
    assert instance.search_all.indexed_commit() == instance.store.head()


def test_servers_update_the_all_revisions_index_after_the_release(instance, people):
    """With defer_all (servers), a release answers before the all-revisions index is updated;
    the index catches up in the background and scope=all finds the new revision."""
    import time

    from conftest import DOC, release

    release(instance, people, "P-01")
    instance.indexer.defer_all = True
    release(instance, people, "P-01", DOC + "\nRewizja o kalibracji wag.\n", reason="Druga")
    deadline = time.monotonic() + 20
    while instance.search_all.indexed_commit() != instance.catalog.recorded_commit():
        assert time.monotonic() < deadline, "the all-revisions index never caught up"
        time.sleep(0.05)
    hits = instance.search_all.search("kalibracji", at=instance.today())
    assert [(h.doc_id, h.revision) for h in hits.hits] == [("P-01", 2)]


def test_reindex_on_two_cores_reads_what_one_core_reads(instance, people):
    """``docctl reindex`` reads the change index in a process of its own while the catalog is
    rebuilt, and writes the search index from forked writers: the result is the same."""
    from docctl.ops.reindexing import rebuild_until_searchable

    release(instance, people, text=DOC + "\nReklamacje klientów.\n")
    release(instance, people, doc_id="P-02", text=DOC + "\nAudyt wewnętrzny.\n", reason="Audyty")
    draft = instance.workflow.create(
        people["author"],
        doc_id="P-03",
        markdown=DOC + "\nSkargi mieszkańców.\n",
        reason="Skargi",
        title="Skargi",
        doc_type="procedure",
        unit="OR",
    )
    changes = [c.as_json() for c in instance.workflow.list_changes()]
    keys = sorted(instance.search.keys())
    register = instance.catalog.all_records()
    for cores in (2, 1):
        for path in (instance.root / "search").glob("gen-*"):
            shutil.rmtree(path)
        done = rebuild_until_searchable(instance, cores=cores)
        assert (done.changes, done.current_entries) == (3, 3)
        assert [c.as_json() for c in instance.workflow.list_changes()] == changes
        assert instance.catalog.all_records() == register
        assert sorted(instance.search.keys()) == keys
        assert ids(instance, "reklamacji") == ["P-01"]
        assert ids(instance, "audytów") == ["P-02"]
        assert f"change:{draft.number}" in keys
