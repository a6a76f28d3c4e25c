"""Word / ODT / Markdown import (issue 13): real .docx and .odt files built by pandoc, converted,
recorded as changes with their figures, rendered back as pages."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from click.testing import CliRunner
from conftest import PASSWORD
from office_files import office_file, tiny_png

from docctl.adoption.conversion import plan_import
from docctl.adoption.recording import record_plans
from docctl.cli import main
from docctl.core.errors import Invalid, TooLarge
from docctl.core.figures import MAX_FIGURE_BYTES, figure_from_bytes, git_blob_id

pytest.importorskip("pypandoc")
UNITS = {"OR": "Wydział Organizacyjny", "FN": "Wydział Finansowy", "KS": "Pełnomocnik ds. SZJ"}


@pytest.fixture(params=["docx", "odt"])
def office(request, tmp_path):
    return office_file(tmp_path / "files", f"P-21 audyty.{request.param}")


def test_conversion_keeps_structure_and_reads_the_header_table(office):
    plan = plan_import(office, units=UNITS)
    assert plan.ready, plan.as_json()
    assert (plan.doc_id, plan.title, plan.doc_type, plan.unit) == ("P-21", "Audyty wewnętrzne", "procedure", "OR")
    assert plan.effective_date.isoformat() == "2026-01-15"
    assert (plan.prepared_by, plan.approved_by) == ("Jan Kowalski", "Anna Nowak")
    text = plan.markdown
    assert "## 1. Cel" in text and "**planowania**" in text and "*przeprowadzania*" in text
    assert re.search(r"^1\.\s+Planowanie audytów$", text, re.M)
    assert re.search(r"^ {4}1\.\s+program audytów na rok$", text, re.M), text  # nested by four spaces
    assert re.search(r"^ {4}-\s+podpunkt$", text, re.M)
    assert re.search(r"\| Audytor wiodący i zespół audytowy +\| +\|", text)  # merged cell split
    assert "[^1]" in text and "PN-EN ISO 9001:2015" in text
    assert "[ISO 9001](https://www.iso.org/standard/62085.html)" in text
    assert "Symbol" not in text and "Opracował" not in text  # the header table became control data
    assert [f.data for f in plan.figures] == [tiny_png()]
    assert any("merged table cell" in w for w in plan.warnings)
    assert any(g.startswith("id from the header table") for g in plan.guesses)


def test_mapping_file_wins_over_the_document_and_names_what_is_missing(tmp_path):
    plain = office_file(tmp_path / "files", "instrukcja.docx", header=False)
    mapping = tmp_path / "map.csv"
    mapping.write_text("file;id;title;type;unit\ninstrukcja.docx;IR-04;Obieg faktur;instruction;FN\n", encoding="utf-8")
    from docctl.adoption.conversion import read_mapping

    plan = plan_import(plain, mapping=read_mapping(mapping), units=UNITS)
    assert (plan.doc_id, plan.title, plan.doc_type, plan.unit) == ("IR-04", "Obieg faktur", "instruction", "FN")
    assert not any(g.startswith("id") for g in plan.guesses)
    bare = plan_import(plain, units=UNITS)
    assert not bare.ready and "unit" in bare.missing and "id" in bare.missing


def test_a_broken_file_is_reported_not_raised(tmp_path):
    broken = tmp_path / "zepsuty.docx"
    broken.write_bytes(b"not a zip at all")
    plan = plan_import(broken, units=UNITS)
    assert not plan.ready and "could not be converted" in plan.error
    assert plan_import(tmp_path / "x.pdf", units=UNITS).error.startswith("not a .docx")


def test_import_records_a_draft_with_its_figure_and_the_page_shows_it(instance, people, office, auth, client):
    [result] = record_plans(instance.workflow, people["author"], [plan_import(office, units=UNITS)])
    assert result.error is None and result.change
    change = instance.workflow.get(result.change)
    name = f"{git_blob_id(tiny_png())}.png"
    tree = subprocess.run(
        ["git", "-C", str(instance.store.path), "ls-tree", "-r", "--name-only", change.head, "documents/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert f"documents/P-21/{name}" in tree and "documents/P-21.md" in tree
    assert f"](P-21/{name})" in instance.workflow.content(change)  # relative: git hosts show it too
    assert "Imported from" in change.reason and "Anna Nowak" in change.reason

    auth.login("author")
    page = client.get(f"/changes/{change.number}").get_data(as_text=True)
    assert f'src="/documents/P-21/figures/{name}"' in page
    served = client.get(f"/documents/P-21/figures/{name}")
    assert served.status_code == 200 and served.data == tiny_png() and served.mimetype == "image/png"
    assert "immutable" in served.headers["Cache-Control"]
    client.post("/logout", data={"csrf_token": auth.csrf("/")})
    auth.login("reader")  # a draft's figure is as private as its text
    assert client.get(f"/documents/P-21/figures/{name}").status_code == 404


def test_release_keeps_exactly_the_figures_in_force_and_old_revisions_keep_theirs(
    instance, people, tmp_path, auth, client
):
    first, second = figure_from_bytes(tiny_png((1, 2, 3))), figure_from_bytes(tiny_png((9, 9, 9)))
    wf = instance.workflow
    text = f"# Schemat\n\n![Schemat](P-01/{first.name})\n"
    change = wf.create(
        people["author"],
        doc_id="P-01",
        markdown=text,
        reason="Pierwsze",
        title="Schemat",
        doc_type="instruction",
        unit="OR",
        figures=[first],
    )
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password=PASSWORD)
    main = instance.store.head()
    assert instance.store.folder(main, "documents/P-01") == {first.name: first.blob_id}

    change = wf.create(
        people["author"],
        doc_id="P-01",
        markdown=f"# Schemat\n\n![Nowy](P-01/{second.name})\n",
        reason="Nowy schemat",
        figures=[second],
    )
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password=PASSWORD)
    assert instance.store.folder(instance.store.head(), "documents/P-01") == {second.name: second.blob_id}
    report = instance.verify()  # figures in releases are known to the auditors' check
    assert report.ok, report.problems

    auth.login("reader")
    assert client.get(f"/documents/P-01/figures/{second.name}").data == second.data
    assert client.get(f"/documents/P-01/figures/{first.name}").data == first.data  # revision 1 still shows it
    assert f"/documents/P-01/figures/{first.name}" in client.get("/documents/P-01/revisions/1").get_data(as_text=True)
    assert client.get("/documents/P-01/figures/" + "0" * 40 + ".png").status_code == 404
    assert client.get("/documents/P-01/figures/..%2Fsecret_key").status_code in (400, 404)


def test_only_the_documents_own_figures_may_be_shown(instance, people):
    wf = instance.workflow
    for image in ("https://tracker.example/pixel.png", "P-02/" + "a" * 40 + ".png", "../secret.png"):
        with pytest.raises(Invalid, match="not one of this document's figures"):
            wf.create(
                people["author"],
                doc_id="P-05",
                markdown=f"Tekst ![x]({image})\n",
                reason="r",
                title="T",
                doc_type="form",
                unit="OR",
            )
    with pytest.raises(Invalid, match="upload it again"):  # named like a figure, but never uploaded
        wf.create(
            people["author"],
            doc_id="P-05",
            markdown=f"![x](P-05/{'b' * 40}.png)\n",
            reason="r",
            title="T",
            doc_type="form",
            unit="OR",
        )


def test_figure_limits_are_clear():
    with pytest.raises(Invalid, match="not a PNG, JPEG, GIF or WebP"):
        figure_from_bytes(b"<svg onload=alert(1)>", "rysunek.svg")
    with pytest.raises(TooLarge, match="larger than 5 MB"):
        figure_from_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * MAX_FIGURE_BYTES, "duzy.png")


def test_cli_dry_run_writes_nothing_and_import_needs_a_person(instance, tmp_path, office):
    run = CliRunner()
    args = ["--instance", str(instance.root), "import", str(office)]
    before = instance.store.refs("refs/heads/")
    dry = run.invoke(main, [*args, "--dry-run", "--json"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output[: dry.output.rindex("]") + 1])
    assert report[0]["id"] == "P-21" and report[0]["ready"] and report[0]["figures"]
    assert instance.store.refs("refs/heads/") == before
    refused = run.invoke(main, args)
    assert refused.exit_code != 0 and "--as LOGIN" in refused.output
    done = run.invoke(main, [*args, "--as", "author"], catch_exceptions=False)
    assert done.exit_code == 0 and "change 1" in done.output, done.output
    missing = run.invoke(
        main,
        [
            "--instance",
            str(instance.root),
            "import",
            str(office_file(tmp_path, "x.odt", header=False)),
            "--as",
            "author",
        ],
    )
    assert missing.exit_code == 1 and "missing (give it in --map)" in missing.output


def test_imported_document_released_renders_its_table_list_and_footnote(instance, people, office, auth, client):
    [result] = record_plans(instance.workflow, people["author"], [plan_import(office, units=UNITS)])
    wf = instance.workflow
    wf.submit(people["author"], result.change)
    for signer in ("approver", "qm"):
        wf.approve(people[signer], result.change, password=PASSWORD)
    auth.login("reader")
    page = client.get("/documents/P-21").get_data(as_text=True)
    assert "<table>" in page and "Audytor wiodący i zespół audytowy" in page
    assert re.search(r"<ol>\s*<li>\s*(?:<p>)?Planowanie audytów(?:</p>)?\s*<ol>", page), "nested list lost"
    assert 'class="footnote"' in page and "PN-EN ISO 9001:2015" in page
    assert "<img alt=" in page and "/documents/P-21/figures/" in page


def test_import_page_checks_then_opens_drafts(instance, auth, client, tmp_path):
    office = office_file(tmp_path / "files", "P-21 audyty.docx")
    auth.login("author")
    assert client.get("/documents/import").status_code == 403  # quality managers import
    client.post("/logout", data={"csrf_token": auth.csrf("/")})
    auth.login("qm")
    before = instance.store.refs("refs/heads/")

    def send(**extra):
        files = {"files": (office.open("rb"), office.name), **extra}
        return auth.post("/documents/import", files, token_from="/documents/import", content_type="multipart/form-data")

    checked = send(dry_run="1").get_data(as_text=True)
    assert "Check (nothing recorded)" in checked and "P-21" in checked and "merged table cell" in checked
    assert instance.store.refs("refs/heads/") == before
    done = send()
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and "1 draft(s) opened from 1 file(s)." in page and "/changes/1" in page
    assert instance.workflow.get(1).author_login == "qm"


def test_editor_keeps_an_uploaded_figure_with_the_text(instance, people, auth, client):
    import io

    change = instance.workflow.create(
        people["author"], doc_id="P-07", markdown="# Tekst\n", reason="r", title="T", doc_type="form", unit="OR"
    )
    auth.login("author")
    form = {
        "title": "T",
        "reason": "r",
        "markdown": "# Tekst\n\nNowe zdanie.\n",
        "head": change.head,
        "onto_revision": "",
        "action": "figure",
        "figure": (io.BytesIO(tiny_png()), "schemat.png"),
    }
    answer = auth.post(
        f"/changes/{change.number}/edit",
        form,
        token_from=f"/changes/{change.number}/edit",
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    name = f"{git_blob_id(tiny_png())}.png"
    saved = instance.workflow.get(change.number)
    assert "Nowe zdanie." in instance.workflow.content(saved)  # the text typed is saved with it
    assert instance.workflow.figures_of(saved) == [name]
    editor = client.get(f"/changes/{change.number}/edit").get_data(as_text=True)
    assert f"![description](P-07/{name})" in editor
    refused = dict(form, head=saved.head, figure=(io.BytesIO(b"GIF? no, text"), "x.gif"))
    page = auth.post(
        f"/changes/{change.number}/edit",
        refused,
        token_from=f"/changes/{change.number}/edit",
        content_type="multipart/form-data",
    )
    assert page.status_code == 422 and "is not a PNG, JPEG, GIF or WebP image" in page.get_data(as_text=True)


def _git(instance, *args):
    return subprocess.run(
        ["git", f"--git-dir={instance.store.path}", *args], capture_output=True, text=True, check=True
    ).stdout


def test_migration_records_the_paper_approval_as_such_and_verify_knows_it(instance, people, office, auth, client):
    plan = plan_import(office, units=UNITS)
    [result] = record_plans(instance.workflow, people["qm"], [plan], migrate_password=PASSWORD)
    assert result.error is None and result.commit, result.as_json()
    message = _git(instance, "log", "-1", "--format=%B", "main")
    assert "Action: migrate" in message and "Paper-Approved-by: Anna Nowak" in message
    assert "Paper-Record: " in message and "Signature: attestation quality_manager" in message
    assert "Approved-by:" not in message.replace("Paper-Approved-by:", "")  # never read as a docctl approval
    rev = instance.catalog.revisions("P-21")[0]
    assert (rev.revision, rev.migrated, rev.effective_date.isoformat()) == (1, True, "2026-01-15")
    assert instance.catalog.document("P-21", instance.today()).status == "effective"
    report = instance.verify()
    assert report.ok, report.problems
    assert report.migrations == 1

    auth.login("reader")
    page = client.get("/documents/P-21").get_data(as_text=True)
    assert "on paper, before docctl" in page and "approved on paper by Anna Nowak" in page
    assert "/documents/P-21/figures/" in page  # its figures came along

    [again] = record_plans(
        instance.workflow, people["qm"], [plan_import(office, units=UNITS)], migrate_password=PASSWORD
    )
    assert "already in docctl" in again.error


def test_migration_needs_a_quality_managers_password_and_the_paper_facts(instance, people, tmp_path):
    office = office_file(tmp_path / "f", "P-30.docx", doc_id="P-30")
    [wrong] = record_plans(instance.workflow, people["qm"], [plan_import(office, units=UNITS)], migrate_password="nope")
    assert wrong.error and wrong.commit is None
    [author] = record_plans(
        instance.workflow, people["author"], [plan_import(office, units=UNITS)], migrate_password=PASSWORD
    )
    assert "quality_manager" in author.error
    plain = office_file(tmp_path / "g", "P-31.docx", header=False)
    plan = plan_import(plain, units=UNITS)
    plan.doc_id, plan.doc_type, plan.unit, plan.missing = "P-31", "procedure", "OR", []
    [unknown] = record_plans(instance.workflow, people["qm"], [plan], migrate_password=PASSWORD)
    assert "missing effective_date, approved_by" in unknown.error
    with pytest.raises(Invalid, match="cannot lie in the future"):
        from datetime import date

        instance.workflow.migrate(
            people["qm"],
            password=PASSWORD,
            doc_id="P-32",
            markdown="Tekst\n",
            title="T",
            doc_type="form",
            unit="OR",
            effective_date=date(2027, 1, 1),
            paper_record="Zarządzenie 1/2020",
            paper_approved_by=["A"],
        )
    assert instance.verify().ok


def test_verify_refuses_a_migration_without_an_attestation(instance, people):
    from datetime import UTC, datetime

    from docctl.core.commits import Identity, format_message

    store = instance.store
    main = store.head()
    blob = store.write_blob(b"---\nid: P-40\ntitle: T\ntype: form\nunit: OR\nreview_months: 12\n---\n\nTekst\n")
    tree = store.tree_with(store.commit(main).tree, {"documents/P-40.md": blob})
    trailers = [
        ("Action", "migrate"),
        ("Document", "P-40"),
        ("Revision", "1"),
        ("Effective-Date", "2026-01-01"),
        ("Paper-Record", "none"),
        ("Paper-Approved-by", "X"),
        ("Content", blob),
        ("Signature", f"approval approver {datetime(2026, 3, 1, tzinfo=UTC).isoformat()} A <a@x>"),
        ("Actor", "approver"),
    ]
    who = Identity("A", "a@x")
    commit = store.commit_tree(
        tree,
        [main],
        format_message("Migrate P-40", "", trailers),
        author=who,
        committer=who,
        when=datetime(2026, 3, 1, tzinfo=UTC),
    )
    store.update_refs([("refs/heads/main", commit, main)])
    problems = [p.problem for p in instance.verify().problems]
    assert any("without a quality manager's attestation" in p for p in problems), problems


def test_an_attachment_is_linked_and_downloaded_never_shown_inline(instance, people, auth, client):
    import io

    pdf = b"%PDF-1.4\n% formularz zgloszenia\n"
    change = instance.workflow.create(
        people["author"],
        doc_id="F-01",
        markdown="# Formularz\n",
        reason="r",
        title="Formularz",
        doc_type="form",
        unit="OR",
    )
    auth.login("author")
    form = {
        "title": "Formularz",
        "reason": "r",
        "markdown": "# Formularz\n",
        "head": change.head,
        "onto_revision": "",
        "action": "figure",
        "figure": (io.BytesIO(pdf), "zgloszenie.pdf"),
    }
    auth.post(
        f"/changes/{change.number}/edit",
        form,
        token_from=f"/changes/{change.number}/edit",
        content_type="multipart/form-data",
    )
    name = f"{git_blob_id(pdf)}.pdf"
    editor = client.get(f"/changes/{change.number}/edit").get_data(as_text=True)
    assert f"[description](F-01/{name})" in editor and f"![description](F-01/{name})" not in editor
    saved = instance.workflow.get(change.number)
    instance.workflow.edit(
        people["author"],
        change.number,
        markdown=f"# Formularz\n\nPobierz [wzór](F-01/{name}).\n",
        expected_head=saved.head,
    )
    page = client.get(f"/changes/{change.number}").get_data(as_text=True)
    assert f'class="attachment" href="/documents/F-01/figures/{name}"' in page
    served = client.get(f"/documents/F-01/figures/{name}")
    assert served.data == pdf and served.mimetype == "application/pdf"
    assert served.headers["Content-Disposition"] == f'attachment; filename="F-01-{name}"'
    with pytest.raises(Invalid, match="is not one of this document's figures"):  # a PDF is no picture
        instance.workflow.edit(
            people["author"],
            change.number,
            markdown=f"![x](F-01/{name})\n",
            expected_head=instance.workflow.get(change.number).head,
        )
    with pytest.raises(Invalid, match="another document's file"):
        instance.workflow.edit(
            people["author"],
            change.number,
            markdown=f"[x](P-01/{name})\n",
            expected_head=instance.workflow.get(change.number).head,
        )
