"""Figures in trees: which figure files a commit of a document carries (issue 13).

A draft carries the figures its text shows (and any uploaded but not yet shown); a release leaves
on ``main`` exactly the figures of the revision in force, so ``documents/<ID>/`` always reads as
that revision's pictures. Older revisions keep theirs in history. Names are blob ids
(:mod:`docctl.core.figures`), so a figure's path maps straight to its object.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.errors import Invalid, NotFound
from ..core.figures import Figure, figure_folder, figure_path, referenced_figures
from .git import GitStore


def draft_figures(
    store: GitStore, doc_id: str, text: str, figures: Iterable[Figure], found_in: Iterable[str]
) -> dict[str, str]:
    """Tree changes for a draft's figures: the new ones written, every shown one present in one of
    the ``found_in`` commits (the draft's own head, the document's current release)."""
    changes: dict[str, str] = {}
    for figure in figures:
        blob = store.write_blob(figure.data)
        if blob != figure.blob_id:  # git and docctl disagree on the name: never store that
            raise Invalid("figure %(name)s does not match its content", name=figure.name)
        changes[figure_path(doc_id, figure.name)] = blob
    commits = list(found_in)
    for name in referenced_figures(text, doc_id):
        path = figure_path(doc_id, name)
        if path in changes:
            continue
        if not any(_has(store, commit, path) for commit in commits):
            raise Invalid("the figure %(name)s is not among this document's figures: upload it again", name=name)
        changes[path] = name.split(".", 1)[0]
    return changes


def released_figures(store: GitStore, main_head: str, doc_id: str, text: str | None) -> dict[str, str | None]:
    """Tree changes on ``main`` for a release (``text``) or a withdrawal (None)."""
    if text is None:
        return {figure_folder(doc_id): None}
    shown = referenced_figures(text, doc_id)
    changes: dict[str, str | None] = {figure_path(doc_id, n): n.split(".", 1)[0] for n in shown}
    for name in store.folder(main_head, figure_folder(doc_id)):
        if name not in shown:
            changes[f"{figure_folder(doc_id)}/{name}"] = None
    return changes


def _has(store: GitStore, commit: str, path: str) -> bool:
    try:
        store.blob_id(commit, path)
    except NotFound:
        return False
    return True
