from __future__ import annotations

from docctl.core.redline import diff_stats, redline_html, unified_diff


def test_insertion_deletion_replacement():
    html = redline_html("Audyt raz na dwa lata.\nBez zmian.\n", "Audyt co roku.\nBez zmian.\nNowy wiersz.\n")
    assert '<del class="redline-del">raz na dwa lata.</del>' in html
    assert '<ins class="redline-ins">co roku.</ins>' in html
    assert "Bez zmian." in html and '<ins class="redline-ins">Nowy wiersz.' in html
    assert diff_stats("a b c", "a x c") == {"inserted_words": 1, "deleted_words": 1}


def test_identical_texts_have_no_marks():
    assert "<ins" not in redline_html("same\ntext", "same\ntext") and "<del" not in redline_html("x", "x")


def test_everything_is_escaped():
    html = redline_html("<script>alert(1)</script>", "<script>alert(2)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_unified_diff_format():
    out = unified_diff("a\nb\n", "a\nc\n", from_label="rev. 1", to_label="rev. 2")
    assert out.splitlines()[:2] == ["--- rev. 1", "+++ rev. 2"] and "-b" in out and "+c" in out


def test_long_documents():
    old = "\n".join(f"Punkt {i}: treść wymagania numer {i}." for i in range(3000))
    new = old.replace("Punkt 1500: treść", "Punkt 1500: nowa treść")
    html = redline_html(old, new)
    assert html.count("<ins") == 1 and "nowa</ins>" in html and "<del" not in html
