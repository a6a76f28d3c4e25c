"""A draft to Word and back (issue 32, item 2): downloaded as .docx, one word changed with
python-docx as an office worker would in Word, uploaded: only that paragraph's lines change in git;
tables and lists survive; a stale head is a 409."""

from __future__ import annotations

import io
import subprocess

import pytest
from conftest import PASSWORD, release

docx = pytest.importorskip("docx", reason="python-docx is in the test extra")

TEXT = """# Nadzór nad zapisami

## 1. Cel

Procedura opisuje nadzór nad zapisami
w urzędzie, zgodnie z normą ISO 9001.

## 2. Odpowiedzialność

1. Kierownik komórki wyznacza osobę odpowiedzialną.
2. Pełnomocnik ds. jakości prowadzi rejestr.

| Zapis | Okres przechowywania |
|---|---|
| Protokół z audytu | 5 lat |
| Karta zmian | 10 lat |

## 3. Postanowienia końcowe

Procedura wchodzi w życie z dniem zatwierdzenia.
"""


def _token(instance, login):
    return {"Authorization": f"Bearer {instance.users.create_token(login)}"}


def test_one_word_changed_in_word_changes_only_its_paragraph(client, instance, people):
    release(instance, people, text=TEXT)
    author = _token(instance, "author")
    n = client.post(
        "/api/v1/changes", headers=author, json={"document_id": "P-01", "markdown": TEXT, "reason": "Przegląd"}
    ).get_json()["number"]
    before = client.get(f"/api/v1/changes/{n}", headers=author).get_json()
    answer = client.get(f"/api/v1/changes/{n}/docx", headers=author)
    assert answer.status_code == 200 and answer.mimetype.endswith("wordprocessingml.document")
    document = docx.Document(io.BytesIO(answer.data))
    header = [[c.text for c in row.cells] for row in document.tables[0].rows]
    assert ["Symbol", "P-01"] in header and ["Wydanie", "2"] in header
    assert any("Karta zmian" in p.text for p in document.paragraphs)
    edited = 0
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            if "rejestr" in run.text:
                run.text = run.text.replace("rejestr", "wykaz")
                edited += 1
    assert edited == 1
    buffer = io.BytesIO()
    document.save(buffer)
    stale = client.put(f"/api/v1/changes/{n}/docx?head={'0' * 40}", headers=author, data=buffer.getvalue())
    assert stale.status_code == 409
    saved = client.put(f"/api/v1/changes/{n}/docx?head={before['head']}", headers=author, data=buffer.getvalue())
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["changed_paragraphs"] == 1
    after = client.get(f"/api/v1/changes/{n}", headers=author).get_json()
    diff = subprocess.run(
        ["git", f"--git-dir={instance.store.path}", "diff", "--unified=0", before["head"], after["head"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        "-2. Pełnomocnik ds. jakości prowadzi rejestr.",
        "+2. Pełnomocnik ds. jakości prowadzi wykaz.",
    ], diff
    assert "| Protokół z audytu | 5 lat |" in after["markdown"]  # the table as written


def test_an_upload_that_is_not_word_is_refused(client, instance, people):
    release(instance, people, text=TEXT)
    author = _token(instance, "author")
    created = client.post(
        "/api/v1/changes", headers=author, json={"document_id": "P-01", "markdown": TEXT, "reason": "Przegląd"}
    ).get_json()
    answer = client.put(
        f"/api/v1/changes/{created['number']}/docx?head={created['head']}", headers=author, data=b"hello"
    )
    assert answer.status_code == 422 and "Word" in answer.get_json()["error"]["message"]


def test_the_change_page_downloads_and_uploads_word(client, auth, instance, people):
    release(instance, people, text=TEXT)
    author = _token(instance, "author")
    created = client.post(
        "/api/v1/changes", headers=author, json={"document_id": "P-01", "markdown": TEXT, "reason": "Przegląd"}
    ).get_json()
    n = created["number"]
    auth.login("author")
    page = client.get(f"/changes/{n}").get_data(as_text=True)
    assert f"/api/v1/changes/{n}/docx" in page and 'name="file"' in page
    document = docx.Document(io.BytesIO(client.get(f"/api/v1/changes/{n}/docx").data))
    for paragraph in document.paragraphs:
        if "wchodzi w życie" in paragraph.text:
            paragraph.runs[-1].text = paragraph.runs[-1].text.replace("zatwierdzenia", "podpisania")
    buffer = io.BytesIO()
    document.save(buffer)
    buffer.seek(0)
    answer = auth.post(
        f"/changes/{n}/docx",
        {"head": created["head"], "file": (buffer, "P-01.docx")},
        token_from=f"/changes/{n}",
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    text = client.get(f"/api/v1/changes/{n}", headers=author).get_json()["markdown"]
    assert "Procedura wchodzi w życie z dniem podpisania." in text
    assert "Procedura opisuje nadzór nad zapisami\nw urzędzie" in text  # untouched lines as written


def test_figures_survive_the_trip_and_a_picture_replaced_in_word_comes_back_as_a_new_figure(client, instance, people):
    """A draft with two figures goes to Word and back: an edit elsewhere leaves both figure lines
    and files as they were; a picture replaced in Word comes back as a new content-named figure
    (the release keeps only the figures the text shows), so the signed text names exactly what
    it shows."""
    from office_files import tiny_png

    from docctl.core.figures import figure_from_bytes

    first, second = figure_from_bytes(tiny_png((1, 2, 3))), figure_from_bytes(tiny_png((9, 9, 9)))
    text = (
        "# Schemat obiegu\n\nPierwszy akapit opisu.\n\n"
        f"![Obieg pism](P-01/{first.name})\n\nDrugi akapit opisu.\n\n"
        f"![Archiwum](P-01/{second.name})\n"
    )
    change = instance.workflow.create(
        people["author"],
        doc_id="P-01",
        markdown=text,
        reason="Schemat",
        title="Schemat obiegu",
        doc_type="instruction",
        unit="OR",
        figures=[first, second],
    )
    author = _token(instance, "author")
    document = docx.Document(io.BytesIO(client.get(f"/api/v1/changes/{change.number}/docx", headers=author).data))
    pictures = [s for s in document.inline_shapes]
    assert len(pictures) == 2
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            if "Drugi akapit" in run.text:  # (setting a run's text would drop a picture in it)
                run.text = run.text.replace("Drugi akapit", "Drugi, poprawiony akapit")
    saved = _upload(client, author, change.number, change.head, document)
    after = client.get(f"/api/v1/changes/{change.number}", headers=author).get_json()
    assert saved["changed_paragraphs"] == 1
    assert f"![Obieg pism](P-01/{first.name})" in after["markdown"]
    assert f"![Archiwum](P-01/{second.name})" in after["markdown"]
    assert instance.workflow.figures_of(instance.workflow.get(change.number)) == sorted([first.name, second.name])

    # the second picture replaced in Word (the same place in the text, another image)
    document = docx.Document(io.BytesIO(client.get(f"/api/v1/changes/{change.number}/docx", headers=author).data))
    replacement = tiny_png((50, 200, 50))
    blip = document.inline_shapes[1]._inline.graphic.graphicData.pic.blipFill.blip
    part = document.part.related_parts[blip.embed]
    part._blob = replacement
    _upload(client, author, change.number, after["head"], document)
    final = client.get(f"/api/v1/changes/{change.number}", headers=author).get_json()
    new = figure_from_bytes(replacement)
    assert f"P-01/{first.name}" in final["markdown"] and f"P-01/{new.name}" in final["markdown"]
    assert f"P-01/{second.name}" not in final["markdown"]
    assert {first.name, new.name} <= set(instance.workflow.figures_of(instance.workflow.get(change.number)))
    assert new.name in final["html"]
    # released, the document's folder holds exactly the figures its text shows
    instance.workflow.submit(people["author"], change.number)
    for signer in ("approver", "qm"):
        if instance.workflow.get(change.number).state == "in_review":
            instance.workflow.approve(people[signer], change.number, password=PASSWORD)
    assert instance.workflow.get(change.number).state == "released"
    assert set(instance.store.folder(instance.store.head(), "documents/P-01")) == {first.name, new.name}


def _upload(client, headers, number, head, document) -> dict:
    buffer = io.BytesIO()
    document.save(buffer)
    answer = client.put(f"/api/v1/changes/{number}/docx?head={head}", headers=headers, data=buffer.getvalue())
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()
