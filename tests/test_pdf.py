"""Issue 16, item 4: any revision as a PDF, typeset on the server with the print view's content
and conventions; checked by extracting the PDF's text."""

from __future__ import annotations

import io

import pytest
from conftest import DOC, Auth, release

from docctl.web import build_app

pypdf = pytest.importorskip("pypdf", reason="pypdf reads the PDF back (pip install '.[test]')")
try:
    import weasyprint  # noqa: F401 - OSError when the system's Pango library is missing
except (ImportError, OSError) as exc:
    pytest.skip(f"WeasyPrint cannot typeset here: {exc}", allow_module_level=True)


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def released_twice(instance, people):
    release(instance, people)
    release(instance, people, text=DOC + "\nDrugie wydanie: zażółć gęślą jaźń.\n", reason="Drugie")


def test_a_revision_as_pdf_in_polish(instance, released_twice):
    instance.settings["LANGUAGE"] = "pl"
    client = build_app(instance, {"TESTING": True}).test_client()
    Auth(client).login("reader")
    answer = client.get("/documents/P-01/revisions/2.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert 'filename="P-01-rev2.pdf"' in answer.headers["Content-Disposition"]
    text = text_of(answer.data)
    for expected in ("P-01", "Nadzór nad dokumentami", "Opracował", "Zatwierdził", "Obowiązuje od", "Karta zmian"):
        assert expected in text, expected
    assert "zażółć gęślą jaźń" in text  # Polish glyphs survive
    assert "kopia nienadzorowana" in " ".join(text.split())
    assert "Strona 1 z" in text


def test_an_old_revision_says_so_in_the_pdf(client, auth, released_twice):
    auth.login("reader")
    text = " ".join(text_of(client.get("/documents/P-01/revisions/1.pdf").data).split())
    assert "SUPERSEDED" in text and "Revision 1 is no longer in force" in text


def test_no_pdf_of_a_revision_that_does_not_exist(client, auth, released_twice):
    auth.login("reader")
    assert client.get("/documents/P-01/revisions/9.pdf").status_code == 404


def test_links_in_the_pdf_point_at_the_address_people_use(instance, released_twice):
    instance.settings["BASE_URL"] = "https://dokumenty.um.example.pl/"
    client = build_app(instance, {"TESTING": True}).test_client()
    Auth(client).login("reader")
    data = client.get("/documents/P-01/revisions/1.pdf").data
    links = [
        annot.get_object()["/A"]["/URI"]
        for page in pypdf.PdfReader(io.BytesIO(data)).pages
        for annot in page.get("/Annots") or []
        if "/A" in annot.get_object()
    ]
    assert "https://dokumenty.um.example.pl/documents/P-01" in links  # "see the current revision"


def test_figures_are_printed_in_the_pdf(instance, people, client, auth):
    from office_files import tiny_png

    from docctl.core.figures import figure_from_bytes

    figure = figure_from_bytes(tiny_png())
    wf = instance.workflow
    change = wf.create(
        people["author"],
        doc_id="IR-02",
        markdown=f"# Schemat\n\n![Schemat](IR-02/{figure.name})\n",
        reason="r",
        title="Schemat",
        doc_type="instruction",
        unit="OR",
        figures=[figure],
    )
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password="correct-horse-battery")
    auth.login("reader")
    answer = client.get("/documents/IR-02/revisions/1.pdf")
    assert answer.status_code == 200
    images = [image for page in pypdf.PdfReader(io.BytesIO(answer.data)).pages for image in page.images]
    assert len(images) == 1, "the figure is missing from the PDF"
