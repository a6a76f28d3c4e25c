"""Anchors (issue 30): ``main``'s head recorded on ``refs/docctl/anchors`` by commits the instance
signs, with every release and at least daily — so a ``main`` moved back later, even with its
reflog trimmed, no longer contains a head once anchored, and ``docctl verify`` names it.

Each anchor commit has two parents: the previous anchor and ``main``'s head then (which keeps
that head reachable, whatever happens to ``main``) — the first anchor only the latter —, an empty
tree, and the trailers
``Action: anchor``, ``Main: <commit>``, ``Anchor-Reason``, the journals' heads. A verified
anchor records the head a verification found sound instead, and holds ``verified.json``. Each
node anchors what it holds; the ref is not replicated (a node's anchors are its own witness).
"""

from __future__ import annotations

import logging

from ..core.commits import format_message
from ..core.errors import DocctlError, NotFound
from ..stores.git import EMPTY_TREE, ZERO_SHA
from .base import MAIN, WorkflowBase

ANCHORS = "refs/docctl/anchors"
# A verified anchor (``Verified: full|incremental``) holds this file: where the verification that
# found nothing wrong stopped, so the next one goes on from there (docctl.audit.checkpoint).
VERIFIED_FILE = "verified.json"
# The journals outside git whose chain heads each anchor records (see docctl.stores.journal):
# "<number> <hash> <rows from before the chain>".
JOURNAL_TRAILERS = {"confirmations": "Confirmations", "account events": "Account-Events"}


class Anchoring(WorkflowBase):
    """``anchor``: main's head recorded, signed by the instance; best effort after a release."""

    _empty_tree_stored = False

    def anchor(self, why: str, *, verified: tuple[str, str, bytes] | None = None) -> str | None:
        """Record ``main``'s head on the anchors ref; None when it is anchored already.
        ``verified``: (main's head verified, "full" or "incremental", verified.json's content) —
        recorded even when main has not moved since the last anchor."""
        with self.store.write_lock():
            try:
                main = self.store.head(MAIN)
            except NotFound:
                return None
            try:
                last = self.store.head(ANCHORS)
            except NotFound:
                last = None
            journals = [
                (JOURNAL_TRAILERS[name], f"{seq} {digest} {before}")
                for name, (seq, digest, before) in sorted((self.journal_heads or dict)().items())
            ]
            if last is not None and verified is None:
                previous = self.store.commit(last)
                if previous.trailer("Main") == main and all(previous.trailer(k) == v for k, v in journals):
                    return None
            tree = EMPTY_TREE
            if verified is not None:
                main, mode, state = verified
                tree = self.store.tree_with(None, {VERIFIED_FILE: self.store.write_blob(state)})
                journals.append(("Verified", mode))
            trailers = [("Action", "anchor"), ("Main", main), *journals, ("Anchor-Reason", why), ("Actor", "docctl")]
            message = format_message(f"Anchor: main at {main[:12]}", "", trailers)
            if not self._empty_tree_stored:  # written once, not only known: fsck wants it stored
                self.store.tree_with(None, {})
                self._empty_tree_stored = True
            commit = self._commit(tree, [last, main] if last else [main], message, self.service)
            self.store.update_refs(
                [(ANCHORS, commit, last or ZERO_SHA)], reason=f"docctl: anchor ({why})", local_only=True
            )
        return commit

    def anchor_quietly(self, why: str) -> None:
        """An anchor after a step that already landed: a failure is logged, never the step's."""
        try:
            self.anchor(why)
        except DocctlError:
            logging.getLogger("docctl").warning("anchoring main failed", exc_info=True)
