"""The store's side of replication (issue 14): atomic pushes with leases, fetching a remote's refs."""

from __future__ import annotations

from dataclasses import dataclass

from .process import ZERO_SHA, check_ref, check_sha


@dataclass(frozen=True)
class PushOutcome:
    status: str  # ok | rejected | unreachable
    detail: str = ""


class RemoteRefs:
    """Like ``git push --atomic --force-with-lease`` and ``git fetch`` (mixed into the store)."""

    def push_atomic(
        self, remote: str, updates: list[tuple[str, str, str]], also: list[tuple[str, str]] = ()
    ) -> PushOutcome:
        """Like ``git push --atomic --force-with-lease=REF:OLD ... NEW:REF``: every ref moves on the
        remote, each only from the value we expect there, or none does. ``OLD`` = ZERO_SHA: the
        ref must not exist there yet. Returns "ok", "rejected" (the remote moved) or
        "unreachable" (with git's words), never raises for the remote's answer. ``also``: (ref,
        commit) set in the same push whatever they were (a node's own record)."""
        args = ["push", "--atomic", "--porcelain", "--no-verify"]
        for ref, _new, old in updates:
            args.append(f"--force-with-lease={check_ref(ref)}:{'' if old == ZERO_SHA else check_sha(old)}")
        args.append(remote)
        args += [f"{check_sha(new)}:{ref}" for ref, new, _old in updates]
        args += [f"+{check_sha(new)}:{check_ref(ref)}" for ref, new in also]
        proc = self._run(*args)
        out = proc.stdout.decode(errors="replace")
        err = proc.stderr.decode(errors="replace").strip()
        if proc.returncode == 0:
            return PushOutcome("ok")
        if any(line.startswith("!") for line in out.splitlines()):
            return PushOutcome("rejected", (out + err)[-500:])
        return PushOutcome("unreachable", err[-500:])

    def remember_pushed(self, updates: list[tuple[str, str, str]]) -> None:
        """What a push just set on the remote, in this node's tracking refs (as ``git push``
        updates its remote-tracking refs): the next sync compares the remote with what it held."""
        lines = "".join(
            f"update refs/docctl/remote/{check_ref(ref)[len('refs/') :]} {check_sha(new)}\n" for ref, new, _ in updates
        )
        self._git("update-ref", "--stdin", input=lines.encode())

    def fetch_remote(self, remote: str, prefixes: tuple[str, ...]) -> dict[str, str]:
        """The remote's refs under ``prefixes``, their objects fetched here (into
        ``refs/docctl/remote/``, which docctl never serves); ref name → commit id."""
        specs = [f"+{p}*:refs/docctl/remote/{p[len('refs/') :]}*" for p in prefixes]
        self._git("fetch", "--quiet", "--no-tags", "--prune", remote, *specs)
        found = {}
        for prefix in prefixes:
            tracking = f"refs/docctl/remote/{prefix[len('refs/') :]}"
            for ref, sha in self.refs(tracking.rstrip("/")).items():
                found[prefix + ref[len(tracking) :]] = sha
        return found
