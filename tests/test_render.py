"""Markdown rendering: features, document links, cache, and a payload corpus that must stay inert.
Assertions walk the parsed HTML, not substrings."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from docctl.core.render import ALLOWED_TAGS, LinkTargets, RenderCache, render_markdown


class Walk(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    for tag, attrs in Walk(html).tags:
        assert tag in ALLOWED_TAGS, f"tag {tag} survived"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} survived"
            assert name not in ("style", "srcdoc", "formaction", "src"), f"{name} survived"
            if name == "href":
                scheme = urlsplit(value.strip()).scheme.lower()
                assert scheme in ("", "http", "https", "mailto"), f"href {value!r} survived"


PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<iframe src='https://evil.example'></iframe>",
    "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
    "<style>body{display:none}</style>",
    "<form action='https://evil.example'><input name=p></form>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "[x](javascript&#58;alert(1))",
    "[x](&#106;avascript:alert(1))",
    '<a href="javascript:alert(1)">raw</a>',
    'Tekst {: onclick="alert(1)" }',
    "# Nagłówek {: onmouseover=alert(1) }",
    "<!-- <script>alert(1)</script> -->",
    "<object data='x.swf'></object>",
    "<embed src='x.swf'>",
    "<base href='https://evil.example/'>",
    "<meta http-equiv='refresh' content='0;url=https://evil.example'>",
    '![img](x" onerror="alert(1))',
    "![img](javascript:alert(1))",
    "<div><p onclick=alert(1)>nested <b>broken</div>",
    "<scr<script>ipt>alert(1)</script>",
    "<a href='https://ok.example' style='color:red' onmouseover='x()'>ok</a>",
    "<details open ontoggle=alert(1)>",
    "<table background='javascript:alert(1)'><tr><td>x</td></tr></table>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "```html\n<script>alert(1)</script>\n```",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_are_inert(payload):
    rendered = render_markdown(f"Tekst przed.\n\n{payload}\n\nTekst po.")
    assert_inert(rendered.html)
    assert_inert(rendered.toc_html)


def test_raw_html_is_shown_as_text():
    html = render_markdown("<b>pogrubienie</b>").html
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_features():
    html = render_markdown(
        "# Tytuł\n\n## Odpowiedzialność\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "Termin\n: definicja\n\n```python\nx = 1\n```\n\n1. jeden\n2. dwa\n"
    )
    assert '<h2 id="odpowiedzialnosc">' in html.html
    tags = {t for t, _ in Walk(html.html).tags}
    assert {"table", "dl", "dt", "dd", "pre", "code", "ol"} <= tags
    assert 'href="#odpowiedzialnosc"' in html.toc_html


def test_allowed_links_survive():
    html = render_markdown(
        "[a](https://um.example.pl) [b](mailto:bom@um.example.pl) [c](#sekcja) [d](/documents/P-01)"
    ).html
    hrefs = [a["href"] for t, a in Walk(html).tags if t == "a"]
    assert hrefs == ["https://um.example.pl", "mailto:bom@um.example.pl", "#sekcja", "/documents/P-01"]


def test_document_ids_become_links_only_when_known_and_not_in_code():
    known = frozenset({"P-05", "F-P06-01"})
    html = render_markdown(
        "Zgodnie z P-05 i F-P06-01, nie z P-99. `P-05` [P-05](https://x.example)",
        LinkTargets(known_ids=known, prefix="/app"),
    ).html
    links = [(a.get("href"), a.get("class")) for t, a in Walk(html).tags if t == "a"]
    assert links == [
        ("/app/documents/P-05", "doc-link"),
        ("/app/documents/F-P06-01", "doc-link"),
        ("https://x.example", None),
    ]
    assert "P-99" in html


def test_cache_renders_each_blob_once():
    cache = RenderCache(max_entries=2)
    calls = []

    def loader():
        calls.append(1)
        return "# A"

    first = cache.get_or_render("a" * 40, loader)
    second = cache.get_or_render("a" * 40, loader)
    assert first is second and len(calls) == 1 and cache.stats()["hits"] == 1
    cache.get_or_render("b" * 40, lambda: "# B")
    cache.get_or_render("c" * 40, lambda: "# C")
    assert cache.stats()["size"] == 2  # least recently used evicted
    cache.get_or_render("a" * 40, loader, LinkTargets(known_ids=frozenset({"P-01"})))
    assert len(calls) == 2  # another link set is another rendering


def test_links_to_withdrawn_documents_and_old_revisions_are_flagged():
    links = LinkTargets(
        known_ids=frozenset({"P-05", "IR-03", "P-07"}),
        obsolete_ids=frozenset({"IR-03"}),
        current_revisions={"P-05": 3, "P-07": 1},
    )
    html = render_markdown(
        "Zob. IR-03 i P-07. [stara](/documents/P-05/revisions/2) [obecna](/documents/P-05/revisions/3) "
        "[wycofana](/documents/IR-03)",
        links,
    ).html
    anchors = [(a.get("href"), a.get("class"), a.get("title")) for t, a in Walk(html).tags if t == "a"]
    assert anchors[0][1] == "doc-link doc-link-obsolete" and "withdrawn" in anchors[0][2]
    assert anchors[1] == ("/documents/P-07", "doc-link", None)
    assert anchors[2][1] == "doc-link-superseded" and "current: revision 3" in anchors[2][2]
    assert anchors[3] == ("/documents/P-05/revisions/3", None, None)
    assert anchors[4][1] == "doc-link-obsolete"
    assert html.count("(withdrawn)") == 2 and html.count("(not current)") == 1
    assert links.key != LinkTargets(known_ids=links.known_ids).key  # flags are part of the cache key
