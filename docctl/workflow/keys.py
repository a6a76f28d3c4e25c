"""Signing keys in ``.docctl/allowed_signers`` on ``main`` (issue 29): the instance's key, each
signer's own key listed before its first signature, keys closed and rotated — every change a
recorded ``Action: keys`` commit signed by the instance.

A signature step (approve, periodic review, a migration's attestation) is signed with the
signer's own key, unlocked with the password they re-enter; everything else with the instance's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from ..core import allowed_signers, signing
from ..core.allowed_signers import SignerKey
from ..core.commits import format_message
from ..core.errors import ConfigError, Forbidden, NotFound, Unauthorized
from ..stores.git import ZERO_SHA
from ..stores.keys import Unlocked
from .base import MAIN, WorkflowBase


class SigningKeys(WorkflowBase):
    """Keys listed, closed and rotated; a person's key unlocked for a signature."""

    def signers(self, commit: str | None = None) -> list[SignerKey]:
        """The keys listed on ``main`` (or at ``commit``); [] before signing began."""
        head = commit or self.store.head(MAIN)
        try:
            text = self.store.read_file(head, allowed_signers.PATH).decode("utf-8")
        except NotFound:  # a history from before signing
            return []
        return allowed_signers.parse(text)

    def instance_principal(self) -> str:
        return self.service.email

    def list_instance_key(self, public_key: str, *, comment: str = "the instance") -> str | None:
        """List the instance's key (an instance from before issue 29, or a new node's copy of
        it); None when it is listed already."""
        with self.store.write_lock():
            keys = self.signers()
            if any(k.key == public_key and k.valid_before is None for k in keys):
                return None
            entry = SignerKey(self.instance_principal(), public_key, self.now(), None, comment)
            return self._write_signers(
                [*keys, entry], "Keys: the instance's signing key", [("Key-Owner", self.instance_principal())]
            )

    def rotate_instance_key(self, old_public: str, new_public: str, install: Callable[[], None]) -> str:
        """``docctl keys rotate``: the old key closed and the new one listed, in one commit signed
        by the old key (which proves the hand-over); ``install`` puts the new key in place while
        the write lock is still held, so no commit is signed by the old key after it closed."""
        now = self.now()
        with self.store.write_lock():
            keys = self.signers()
            if not any(k.key == old_public and k.valid_at(now) for k in keys):
                raise ConfigError("the instance's current key is not listed in allowed_signers")
            # The old key stays valid one second past the hand-over commit it signs.
            closed = [
                k if k.key != old_public or k.valid_before else replace(k, valid_before=now + timedelta(seconds=1))
                for k in keys
            ]
            entry = SignerKey(self.instance_principal(), new_public, now, None, "the instance (rotated)")
            commit = self._write_signers(
                [*closed, entry], "Keys: the instance's signing key rotated", [("Key-Owner", self.instance_principal())]
            )
            install()
        return commit

    def unlock_signing_key(self, actor: signing.Person, password: str) -> Unlocked | None:
        """``actor``'s own key for one signature, listed on ``main`` first when it is new.
        Call after the password was checked, before taking the write lock."""
        if self.keys is None:
            return None
        if "admin" in actor.roles:
            raise Forbidden("an admin never signs")
        after_reset = self.keys.reset_pending(actor.login)
        why = "after a password reset" if after_reset else "first signature"
        try:
            unlocked = self.keys.unlock(actor.login, password, why_new=why)
        except Unauthorized:
            # The password was checked just before, so it changed where docctl could not reseal
            # the key: in the office's directory. The old key is closed, a new one made (issue 32).
            why = "after a password change in the directory"
            self.close_signing_key(actor.login, actor.email, why, actor.login)
            after_reset = True
            unlocked = self.keys.unlock(actor.login, password, why_new=why)
        if unlocked.created:
            try:
                with self.store.write_lock():
                    keys = self.signers()
                    entry = SignerKey(
                        actor.email, unlocked.key.public_key, self.now(), None, f"{actor.name} ({actor.login})"
                    )
                    self._write_signers(
                        [*keys, entry],
                        f"Keys: signing key of {actor.name}" + (f" {why}" if after_reset else ""),
                        [("Key-Owner", actor.email), ("Key-Reason", why), ("Actor", actor.login)],
                        actor,
                    )
            except BaseException:
                self.keys.forget_new(unlocked)
                raise
        return unlocked

    def signed(self, actor: signing.Person, commit: str, what: str) -> None:
        """Tell the listeners (the e-mail to the signer) of a signature made in ``actor``'s name."""
        for listener in self.signature_listeners:
            listener(actor, commit, what)

    def close_signing_key(self, login: str, email: str, why: str, actor_login: str) -> str | None:
        """Close a person's key (a password reset, a deactivation): listed with ``valid-before``
        from now, so signatures made while it was open still verify. None: they had none."""
        if self.keys is None or self.keys.close(login, why) is None:
            return None
        with self.store.write_lock():
            keys = allowed_signers.closed(self.signers(), email, self.now())
            return self._write_signers(
                keys,
                f"Keys: signing key of {email} closed ({why})",
                [("Key-Owner", email), ("Key-Reason", why), ("Actor", actor_login)],
            )

    def _write_signers(self, keys: list[SignerKey], subject: str, trailers: list[tuple[str, str]], author=None) -> str:
        """One ``Action: keys`` commit on ``main`` (under the write lock, signed by the instance).
        The instance's own key is always the first listed: it is where trust begins."""
        if self.instance_key_line is not None and not any(k.principal == self.instance_principal() for k in keys):
            root = SignerKey(self.instance_principal(), self.instance_key_line(), self.now(), None, "the instance")
            keys = [root, *keys]
        try:
            main_head = self.store.head(MAIN)
        except NotFound:  # no history yet
            main_head = None
        blob = self.store.write_blob(allowed_signers.render(keys).encode("utf-8"))
        base = self.store.commit(main_head).tree if main_head else None
        tree = self.store.tree_with(base, {allowed_signers.PATH: blob})
        trailers = [("Action", "keys"), *trailers]
        if not any(k == "Actor" for k, _ in trailers):
            trailers.append(("Actor", "docctl"))
        message = format_message(subject, "", trailers)
        commit = self._commit(tree, [main_head] if main_head else [], message, author or self.service)
        self.store.update_refs([(MAIN, commit, main_head or ZERO_SHA)], reason=f"docctl: {subject[:60]}")
        self.catalog.catch_up()
        return commit
