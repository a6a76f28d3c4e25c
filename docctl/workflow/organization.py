"""The policy file on ``main``: the first commit of an instance and its organizational units."""

from __future__ import annotations

from ..core import allowed_signers, signing
from ..core.allowed_signers import SignerKey
from ..core.commits import format_message
from ..core.policy import POLICY_PATH, Policy
from ..stores.git import ZERO_SHA
from ..stores.replication import retried_when_the_remote_moved
from .base import MAIN, WorkflowBase


class Organization(WorkflowBase):
    """initialize (``Action: init``) and add_unit (``Action: policy``)."""

    @retried_when_the_remote_moved
    def initialize(self, actor: signing.Person, policy: Policy, *, instance_key: str | None = None) -> str:
        """The first commit on ``main``: the policy file, ``Action: init`` — and, given the
        instance's public key, the allowed-signers file listing it (issue 29), so the history is
        signed from its first commit."""
        blob = self.store.write_blob(policy.to_yaml().encode("utf-8"))
        files = {POLICY_PATH: blob}
        if instance_key:
            entry = SignerKey(self.service.email, instance_key, self.now(), None, "the instance")
            files[allowed_signers.PATH] = self.store.write_blob(allowed_signers.render([entry]).encode("utf-8"))
        tree = self.store.tree_with(None, files)
        message = format_message("Initialize document control", "", [("Action", "init"), ("Actor", actor.login)])
        commit = self._commit(tree, [], message, actor)
        self.store.update_refs([(MAIN, commit, ZERO_SHA)], reason="docctl: init")
        self.catalog.catch_up()
        return commit

    @retried_when_the_remote_moved
    def add_unit(self, actor: signing.Person, code: str, name: str) -> str:
        """Add an organizational unit: a recorded ``Action: policy`` commit on ``main``."""
        with self.store.write_lock():
            main_head = self.store.head(MAIN)
            policy = self.policy().with_unit(code, name)
            blob = self.store.write_blob(policy.to_yaml().encode("utf-8"))
            tree = self.store.tree_with(self.store.commit(main_head).tree, {POLICY_PATH: blob})
            message = format_message(
                f"Policy: add unit {code} ({name})", "", [("Action", "policy"), ("Actor", actor.login)]
            )
            commit = self._commit(tree, [main_head], message, actor)
            self.store.update_refs([(MAIN, commit, main_head)], reason=f"docctl: add unit {code}")
        self.catalog.catch_up()
        return commit
