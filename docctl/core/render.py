"""Markdown → sanitized HTML, cached by blob id.

Two independent guards, because a procedure page is evidence and must never run code:
1. Python-Markdown is told to escape raw HTML (``<script>`` arrives as text) and is given no
   extension that lets authors set attributes (``attr_list`` would allow ``{: onclick=…}``;
   ``md_in_html`` would re-enable raw HTML).
2. The output goes through ``nh3`` (ammonia) with an explicit allow-list of tags, attributes
   and URL schemes (http, https, mailto and relative links only).
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from xml.etree import ElementTree

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "code",
    "em",
    "strong",
    "b",
    "i",
    "sup",
    "sub",
    "ins",
    "del",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "div",
    "span",
    "abbr",
    "img",
    "figure",
    "figcaption",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class"},
    "h1": {"id"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "div": {"class"},
    "span": {"class"},
    "code": {"class"},
    "abbr": {"title"},
    "ol": {"start"},
    "img": {"src", "alt", "title", "class", "loading"},
    "sup": {"id"},
    "li": {"id"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_ID = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+"
ID_PATTERN = re.compile(rf"(?<![\w-])({_ID})(?![\w-])")
_FIGURE = re.compile(rf"({_ID})/([0-9a-f]{{40}}\.(?:png|jpg|gif|webp))")
_ATTACHED = re.compile(rf"({_ID})/([0-9a-f]{{40}}\.(?:png|jpg|gif|webp|pdf|docx|xlsx|odt|ods))")


@dataclass(frozen=True)
class Rendered:
    html: str
    toc_html: str


@dataclass(frozen=True)
class LinkTargets:
    """Where document links point and which targets must be flagged: withdrawn documents and
    explicit links to revisions no longer in force. ``key`` names the combination in caches."""

    known_ids: frozenset[str] = frozenset()
    prefix: str = ""
    obsolete_ids: frozenset[str] = frozenset()
    current_revisions: Mapping[str, int] = field(default_factory=dict)

    def url(self, doc_id: str) -> str:
        return f"{self.prefix}/documents/{doc_id}"

    @cached_property
    def key(self) -> str:
        parts = [self.prefix, *sorted(self.known_ids), "|", *sorted(self.obsolete_ids), "|"]
        parts += [f"{d}={n}" for d, n in sorted(self.current_revisions.items())]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


NO_LINKS = LinkTargets()


def slugify(value: str, separator: str = "-") -> str:
    """Heading ids that keep Polish words readable: "Odpowiedzialność" → "odpowiedzialnosc"."""
    value = value.replace("ł", "l").replace("Ł", "L")
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(rf"[{separator}\s]+", separator, value)


class _DocumentLinks(Treeprocessor):
    """Turns known document IDs in text ("zgodnie z P-05") into links to the current revision."""

    SKIP = {"a", "code", "pre"}

    def __init__(self, md, links: LinkTargets) -> None:
        super().__init__(md)
        self.links = links
        self.known_ids = links.known_ids
        self._href = re.compile(rf"{re.escape(links.prefix)}/documents/({_ID})(?:/revisions/(\d+))?/?")

    def run(self, root: ElementTree.Element) -> None:
        if self.known_ids:
            self._walk(root)
            for anchor in root.iter("a"):
                self._mark(anchor)

    def _mark(self, anchor: ElementTree.Element) -> None:
        """Flag a link to a withdrawn document or to a revision no longer in force (issue 17)."""
        match = self._href.fullmatch(anchor.get("href", ""))
        if not match:
            return
        doc_id, revision = match.group(1), match.group(2)
        current = self.links.current_revisions.get(doc_id)
        if doc_id in self.links.obsolete_ids:
            flag, title = "obsolete", f"{doc_id} is withdrawn (obsolete): do not use it"
        elif revision is not None and current is not None and int(revision) != current:
            flag, title = "superseded", f"not the revision in force (current: revision {current})"
        else:
            return
        anchor.set("class", f"{anchor.get('class', '')} doc-link-{flag}".strip())
        anchor.set("title", title)
        label = ElementTree.SubElement(anchor, "span", {"class": "link-flag"})
        label.text = f" ({'withdrawn' if flag == 'obsolete' else 'not current'})"

    def _walk(self, element: ElementTree.Element) -> None:
        for child in list(element):
            if child.tag not in self.SKIP:
                self._walk(child)
        if element.tag in self.SKIP:
            return
        # text before the first child
        if element.text:
            nodes = self._split(element.text)
            if nodes:
                element.text = nodes[0]
                for index, link in enumerate(nodes[1:]):
                    element.insert(index, link)
        for child in list(element):
            if child.tail:
                nodes = self._split(child.tail)
                if nodes:
                    child.tail = nodes[0]
                    position = list(element).index(child)
                    for offset, link in enumerate(nodes[1:], start=1):
                        element.insert(position + offset, link)

    def _split(self, text: str):
        """Return [leading text, <a> with tail, …] or [] when nothing is linked."""
        parts = ID_PATTERN.split(text)
        if len(parts) == 1 or not any(p in self.known_ids for p in parts[1::2]):
            return []
        lead = parts[0]
        links = []
        carry = ""
        for index in range(1, len(parts), 2):
            doc_id, after = parts[index], parts[index + 1]
            if doc_id in self.known_ids:
                if links:
                    links[-1].tail = (links[-1].tail or "") + carry
                else:
                    lead += carry
                link = ElementTree.Element("a", {"href": self.links.url(doc_id), "class": "doc-link"})
                link.text = doc_id
                link.tail = after
                links.append(link)
                carry = ""
            else:
                if links:
                    links[-1].tail = (links[-1].tail or "") + doc_id + after
                else:
                    lead += doc_id + after
        return [lead, *links]


class _Figures(Treeprocessor):
    """Images show only the document's own figures (``P-01/<blob id>.png``, :mod:`docctl.figures`),
    served by docctl; any other image becomes its description in brackets — nothing is fetched
    from elsewhere, and nothing leaks who reads what to another server."""

    def __init__(self, md, prefix: str) -> None:
        super().__init__(md)
        self.prefix = prefix

    def run(self, root: ElementTree.Element) -> None:
        for anchor in root.iter("a"):  # a link to a file kept beside the document: served by docctl
            match = _ATTACHED.fullmatch(anchor.get("href", ""))
            if match:
                anchor.set("href", f"{self.prefix}/documents/{match.group(1)}/figures/{match.group(2)}")
                anchor.set("class", f"{anchor.get('class', '')} attachment".strip())
        for parent in root.iter():
            for child in list(parent):
                if child.tag != "img":
                    continue
                match = _FIGURE.fullmatch(child.get("src", ""))
                if match:
                    child.set("src", f"{self.prefix}/documents/{match.group(1)}/figures/{match.group(2)}")
                    child.set("class", "figure")
                    child.set("loading", "lazy")
                    continue
                index = list(parent).index(child)
                text = ElementTree.Element("span", {"class": "image-left-out"})
                text.text = f"[{child.get('alt') or 'image'}]"
                text.tail = child.tail
                parent.remove(child)
                parent.insert(index, text)


class _LinkExtension(Extension):
    def __init__(self, links: LinkTargets) -> None:
        super().__init__()
        self.links = links

    def extendMarkdown(self, md) -> None:  # noqa: N802 - Python-Markdown's API name
        md.treeprocessors.register(_DocumentLinks(md, self.links), "docctl_links", 5)
        md.treeprocessors.register(_Figures(md, self.links.prefix), "docctl_figures", 4)


def _escape_raw_html(md: markdown.Markdown) -> None:
    # Raw HTML blocks and inline tags become text (shown, never parsed) — decision 2026-11.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render_markdown(text: str, links: LinkTargets = NO_LINKS) -> Rendered:
    """Render a document body (front matter already stripped) to sanitized HTML and a TOC."""
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            text = text[end + 4 :]
    md = markdown.Markdown(
        extensions=["tables", "fenced_code", "def_list", "sane_lists", "toc", "footnotes", _LinkExtension(links)],
        extension_configs={"toc": {"slugify": slugify, "toc_depth": "2-3"}},
        output_format="html",
    )
    _escape_raw_html(md)
    body = md.convert(text)
    toc = md.toc if "<li>" in getattr(md, "toc", "") else ""
    return Rendered(sanitize(body), sanitize(toc))


class RenderCache:
    """Thread-safe LRU of rendered documents keyed by (blob id, links key).

    A blob id names immutable content, so an entry never goes stale; ``links_key`` changes when
    the set of linkable document IDs (or the link prefix) does.
    """

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_render(
        self,
        blob_id: str,
        text_loader: Callable[[], str],
        links: LinkTargets = NO_LINKS,
    ) -> Rendered:
        key = (blob_id, links.key)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return cached
            self.misses += 1
        rendered = render_markdown(text_loader(), links)
        with self._lock:
            self._entries[key] = rendered
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return rendered

    def stats(self) -> dict:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._entries)}
