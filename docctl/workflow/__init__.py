"""Change control: the state machine whose every step is a commit — the only writer of the documents repository.

States: draft → in_review → released; reject → draft; cancel ends it. The verbs are split by
what they do, one module each, and put together here as one :class:`Workflow` for the web and
the CLI:

- :mod:`.drafting` — create, edit, update onto the current revision;
- :mod:`.approval` — submit, reject, approve (sign) and the release the last signature makes;
- :mod:`.lifecycle` — withdraw, periodic review, cancel;
- :mod:`.migration` — a document approved on paper recorded as in force;
- :mod:`.organization` — the policy file: initialize, organizational units;
- :mod:`.anchors` — main's head recorded on ``refs/docctl/anchors`` (a roll-back shows);
- :mod:`.keys` — signing keys in ``.docctl/allowed_signers``; a signer's key unlocked to sign;
- :mod:`.queries` — lists, scopes, visibility, the change index kept in step;
- :mod:`.base` — the shared ground: store, clock, policy, reading a change, writing a step.
"""

from __future__ import annotations

from .anchors import ANCHORS, Anchoring
from .approval import Approval
from .base import MAIN, MAX_REASON
from .drafting import Drafting
from .keys import SigningKeys
from .lifecycle import Lifecycle
from .migration import PaperMigration
from .organization import Organization
from .queries import ABSORB_ONE_BY_ONE, ChangeQueries, require_visible, visible_numbers

__all__ = ["ANCHORS", "ABSORB_ONE_BY_ONE", "MAIN", "MAX_REASON", "Workflow", "require_visible", "visible_numbers"]


class Workflow(Drafting, Approval, Lifecycle, PaperMigration, Organization, SigningKeys, Anchoring, ChangeQueries):
    """Drafts, review, signatures, release, withdrawal and periodic review — all as commits."""
