"""Issue 17: text is stored as written, in one canonical form, at every entry point; conflicts are
resolved before they are recorded; older CR+LF blobs are shown and compared as if normalized."""

from __future__ import annotations

import subprocess

import pytest
from conftest import DOC, PASSWORD, release

from docctl.core.documents import canonical_text, conflict_marker_lines, document_path, is_canonical
from docctl.core.errors import Invalid, MergeConflict


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def stored_bytes(instance, ref: str, doc_id: str = "P-01") -> bytes:
    return instance.store.read_blob(instance.store.blob_id(instance.store.head(ref), document_path(doc_id)))


def git(instance, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(instance.store.path), *args], capture_output=True, text=True, check=True
    ).stdout


# -- the canonical form ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("a\r\nb\r\n", "a\nb\n"),
        ("a\rb", "a\nb\n"),  # old Mac line ends
        ("\ufeffa\n", "a\n"),  # a BOM from Word
        ("a \t\nb\n\n\n", "a\nb\n"),  # trailing blanks and blank lines
        ("line with a hard break   \nnext", "line with a hard break  \nnext\n"),  # Markdown <br> kept
        ("   \n", ""),
    ],
)
def test_canonical_text(raw, canonical):
    assert canonical_text(raw) == canonical
    assert canonical_text(canonical) == canonical  # idempotent
    assert is_canonical(canonical.encode()) and (raw == canonical or not is_canonical(raw.encode()))


def test_conflict_markers_are_found_but_a_heading_underline_is_not():
    marked = "Tytuł\n=======\n\n<<<<<<< change 3\nnasze\n=======\nich\n>>>>>>> revision 2\n"
    assert conflict_marker_lines(marked) == [4, 6, 8]
    assert conflict_marker_lines("Tytuł\n=======\n") == []


# -- every entry point stores the canonical form ---------------------------------------------
def test_workflow_create_and_edit_store_lf_only(instance, people):
    change = instance.workflow.create(
        people["author"],
        doc_id="P-01",
        markdown="\ufeff" + crlf(DOC) + "  \r\n",
        reason="Pierwsze",
        title="Nadzór",
        doc_type="procedure",
        unit="OR",
    )
    assert b"\r" not in stored_bytes(instance, f"refs/heads/changes/{change.number}")
    edited = instance.workflow.edit(
        people["author"], change.number, markdown=crlf(DOC + "\nNowe zdanie.\n"), expected_head=change.head
    )
    data = stored_bytes(instance, f"refs/heads/changes/{edited.number}")
    assert b"\r" not in data and not data.startswith(b"\xef\xbb\xbf") and data.endswith(b"Nowe zdanie.\n")
    assert is_canonical(data)


def test_api_put_with_crlf_stores_lf(client, instance, people):
    release(instance, people)
    headers = {"Authorization": f"Bearer {instance.users.create_token('author')}"}
    created = client.post(
        "/api/v1/changes",
        json={"document_id": "P-01", "markdown": crlf(DOC), "reason": "Test"},
        headers=headers,
    ).get_json()
    number = created["number"]
    put = client.put(
        f"/api/v1/changes/{number}",
        json={"markdown": crlf(DOC.replace("Dotyczy", "Obejmuje")), "head": created["head"]},
        headers=headers,
    )
    assert put.status_code == 200
    assert b"\r" not in stored_bytes(instance, f"refs/heads/changes/{number}")


def test_web_form_save_with_crlf_is_a_one_line_change(client, auth, instance, people):
    """What Chromium does with a textarea, through the Flask test client (the browser test drives
    the real form): a one-line edit is one line in git diff and in the redline."""
    release(instance, people)
    auth.login("author")
    change = instance.workflow.create(people["author"], doc_id="P-01", markdown=DOC, reason="Jedna linia")
    page = client.get(f"/changes/{change.number}/edit").get_data(as_text=True)
    assert "Dotyczy wszystkich komórek urzędu." in page
    body = DOC.replace("Dotyczy wszystkich komórek", "Dotyczy wszystkich wydziałów")
    response = auth.post(
        f"/changes/{change.number}/edit",
        {"title": "Nadzór nad dokumentami", "reason": "Jedna linia", "head": change.head, "markdown": crlf(body)},
        token_from=f"/changes/{change.number}/edit",
    )
    assert response.status_code == 302
    ref = f"refs/heads/changes/{change.number}"
    stat = git(instance, "diff", "--numstat", "main", ref, "--", "documents/P-01.md")
    assert stat.split()[:2] == ["1", "1"], stat
    shown = client.get(f"/changes/{change.number}").get_data(as_text=True)
    redline = shown.split('<div class="redline">', 1)[1].split("</div>", 1)[0]
    assert redline.count("<ins") == 1 and redline.count("<del") == 1


# -- legacy CR+LF blobs ------------------------------------------------------------------------
def test_documents_stored_with_crlf_are_shown_and_compared_as_if_normalized(instance, people, monkeypatch):
    import docctl.core.documents
    import docctl.workflow.base

    with monkeypatch.context() as m:  # what docctl before issue 17 wrote
        m.setattr(docctl.workflow.base, "canonical_text", lambda text: text)
        m.setattr(docctl.core.documents, "canonical_text", lambda text: text)
        release(instance, people, text=crlf(DOC))
    assert b"\r\n" in stored_bytes(instance, "refs/heads/main")
    release(instance, people, text=DOC.replace("Dotyczy", "Obejmuje"), reason="Druga")
    from docctl.reading import Reader

    reader = Reader(instance)
    assert "\r" not in reader.revision("P-01", 1).markdown
    diff = reader.diff("P-01", 1, 2)
    changed = [line for line in diff["unified"].splitlines()[2:] if line[:1] in "+-"]
    assert changed == ["-Dotyczy wszystkich komórek urzędu.", "+Obejmuje wszystkich komórek urzędu."]


# -- conflicts are resolved before they are recorded -------------------------------------------
@pytest.fixture
def diverged(instance, people):
    """Change A and change B both edit the "Zakres" line; A is released, B must be updated."""
    release(instance, people)
    wf = instance.workflow
    other = wf.create(
        people["author2"], doc_id="P-01", markdown=DOC.replace("## 1. Cel", "## 1. Cel procedury"), reason="B"
    )
    release(instance, people, text=DOC.replace("komórek urzędu", "wydziałów urzędu"), reason="A")
    ours = wf.edit(
        people["author2"],
        other.number,
        markdown=crlf(DOC.replace("## 1. Cel", "## 1. Cel procedury").replace("komórek urzędu", "biur urzędu")),
        expected_head=other.head,
    )
    return ours


def test_update_ignores_line_ending_differences(instance, people):
    release(instance, people)
    wf = instance.workflow
    change = wf.create(people["author2"], doc_id="P-01", markdown=DOC.replace("## 1. Cel", "## Cel"), reason="B")
    release(instance, people, text=crlf(DOC.replace("Dotyczy", "Obejmuje")) + "   ", reason="A")
    updated = wf.update_to_current(people["author2"], change.number)
    text = wf.content(updated)
    assert "## Cel" in text and "Obejmuje" in text and not conflict_marker_lines(text)


def test_a_real_conflict_records_nothing_and_returns_both_sides(instance, people, diverged):
    wf = instance.workflow
    with pytest.raises(MergeConflict) as caught:
        wf.update_to_current(people["author2"], diverged.number)
    detail = caught.value.detail
    assert wf.get(diverged.number).head == diverged.head  # nothing recorded
    assert "biur urzędu" in detail["markdown"] and "wydziałów urzędu" in detail["markdown"]
    assert conflict_marker_lines(detail["markdown"]) and detail["onto_revision"] == 2
    assert "## 1. Cel procedury" in detail["markdown"]  # the clean part merged


def test_markers_cannot_be_saved_and_the_resolution_is_recorded_as_the_update(instance, people, diverged):
    wf = instance.workflow
    with pytest.raises(MergeConflict) as caught:
        wf.update_to_current(people["author2"], diverged.number)
    marked = caught.value.detail["markdown"]
    for attempt in (
        lambda: wf.edit(people["author2"], diverged.number, markdown=marked, expected_head=diverged.head),
        lambda: wf.update_to_current(
            people["author2"], diverged.number, resolved_markdown=marked, expected_head=diverged.head, onto_revision=2
        ),
    ):
        with pytest.raises(Invalid, match=r"merge-conflict markers on line\(s\) \d+"):
            attempt()
    resolved = "\n".join(line for line in marked.split("\n") if not line.startswith(("<<<<<<<", "=======", ">>>>>>>")))
    resolved = resolved.replace("biur urzędu\n", "")
    updated = wf.update_to_current(
        people["author2"], diverged.number, resolved_markdown=resolved, expected_head=diverged.head, onto_revision=2
    )
    assert updated.base_revision == 2 and not conflict_marker_lines(wf.content(updated))
    assert len(instance.store.commit(updated.head).parents) == 2  # a merge: the new base is recorded
    wf.submit(people["author2"], updated.number)
    for signer in ("approver", "qm"):
        done = wf.approve(people[signer], updated.number, password=PASSWORD)
    assert done.state == "released"


def test_markers_already_in_a_change_block_submit_and_signing(instance, people, monkeypatch):
    """A change recorded by docctl before issue 17 may hold markers: it cannot go further."""
    import docctl.workflow.approval
    import docctl.workflow.base

    release(instance, people)
    marked = DOC + "\n<<<<<<< change 2\na\n=======\nb\n>>>>>>> revision 1\n"
    with monkeypatch.context() as m:
        m.setattr(docctl.workflow.base, "refuse_conflict_markers", lambda *a, **k: None)
        m.setattr(docctl.workflow.approval, "refuse_conflict_markers", lambda *a, **k: None)
        change = instance.workflow.create(people["author"], doc_id="P-01", markdown=marked, reason="Stary")
        instance.workflow.submit(people["author"], change.number)
        change = instance.workflow.create(people["author"], doc_id="P-01", markdown=marked, reason="Stary 2")
    with pytest.raises(Invalid, match="conflict markers"):
        instance.workflow.submit(people["author"], change.number)
    with pytest.raises(Invalid, match="conflict markers"):
        instance.workflow.approve(people["approver"], change.number - 1, password=PASSWORD)


def test_conflict_through_the_web_opens_the_editor_and_resolution_saves(client, auth, instance, people, diverged):
    auth.login("author2")
    token_page = f"/changes/{diverged.number}"
    response = auth.post(f"/changes/{diverged.number}/update", token_from=token_page)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Resolve the conflict" in page and 'name="onto_revision" value="2"' in page
    assert "&lt;&lt;&lt;&lt;&lt;&lt;&lt; change" in page
    assert instance.workflow.get(diverged.number).head == diverged.head
    form = {"title": "Nadzór nad dokumentami", "reason": "B", "head": diverged.head, "onto_revision": "2"}
    still_marked = auth.post(
        f"/changes/{diverged.number}/edit",
        {**form, "markdown": "<<<<<<< x\na\n=======\nb\n>>>>>>> y\n"},
        token_from=token_page,
    )
    assert still_marked.status_code == 422 and "merge-conflict markers" in still_marked.get_data(as_text=True)
    saved = auth.post(
        f"/changes/{diverged.number}/edit",
        {**form, "markdown": crlf(DOC.replace("komórek urzędu", "wydziałów i biur urzędu"))},
        token_from=token_page,
    )
    assert saved.status_code == 302
    change = instance.workflow.get(diverged.number)
    assert change.base_revision == 2 and "wydziałów i biur" in instance.workflow.content(change)


def test_conflict_through_the_api(client, instance, people, diverged):
    headers = {"Authorization": f"Bearer {instance.users.create_token('author2')}"}
    response = client.post(f"/api/v1/changes/{diverged.number}/update", headers=headers)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "merge_conflict" and error["detail"]["onto_revision"] == 2
    put = client.put(
        f"/api/v1/changes/{diverged.number}",
        json={"markdown": DOC, "head": error["detail"]["head"], "onto_revision": 2},
        headers=headers,
    )
    assert put.status_code == 200
    assert instance.workflow.get(diverged.number).base_revision == 2
