"""The journals outside git checked against their chains and their anchors (issue 30).

Read confirmations and account events live in SQLite or PostgreSQL, where someone who can write
the database could delete, alter or reorder a row (after dropping its append-only trigger). Each
chained row carries the hash of the row before it (:mod:`docctl.stores.journal`), and the heads
of both chains are anchored in git with ``main`` (:mod:`docctl.workflow.anchors`): recomputing
the chains names the row where one breaks, and a head once anchored must still be in the chain,
so the newest rows cannot vanish either. A confirmation must name a revision git released.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..stores.journal import GENESIS, ChainRow, row_hash

Anchored = tuple[int, str, int, str]  # (number, hash, rows before the chain, anchor's day)


def check_chain(name: str, rows: list[ChainRow], anchored: Iterable[Anchored]) -> list[str]:
    """What is wrong with journal ``name``: a row altered, missing or out of order, a row added
    outside the chain, or an anchored head no longer there."""
    problems = []
    chained = [row for row in rows if row.row_hash is not None]
    unchained = len(rows) - len(chained)
    by_seq = {row.seq: row for row in chained}
    previous, expected = GENESIS, 1
    for row in chained:
        if row.seq != expected:
            what = "missing (deleted)" if row.seq > expected else "duplicated"
            problems.append(f"{name}: row {expected} is {what}, the chain goes on at row {row.seq}")
        elif row.prev_hash != previous:
            problems.append(f"{name}: row {row.seq} does not follow the row before it (reordered or replaced)")
        if row_hash(row.prev_hash or "", row.fields) != row.row_hash:
            problems.append(f"{name}: row {row.seq} was altered ({', '.join(map(str, row.fields))[:80]})")
        previous, expected = row.row_hash, (row.seq or 0) + 1
    for seq, digest, before, day in anchored:
        if before != unchained and seq:
            problems.append(
                f"{name}: {unchained} rows from before the chain where {before} were anchored on {day}: "
                "rows were added or deleted outside the chain"
            )
        if seq and (seq not in by_seq or by_seq[seq].row_hash != digest):
            gone = "is gone" if seq not in by_seq else "is no longer the one anchored"
            problems.append(f"{name}: row {seq}, anchored on {day}, {gone}: the journal was cut back or rewritten")
    return sorted(set(problems), key=problems.index)


def unreleased_confirmations(rows: list[ChainRow], released: set[tuple[str, int]]) -> list[str]:
    """Confirmations (login, document, revision, at) of a revision git never released."""
    problems = []
    for row in rows:
        login, document, revision = row.fields[0], row.fields[1], int(row.fields[2])
        if (document, revision) not in released:
            where = f"row {row.seq}" if row.seq else "a row from before the chain"
            problems.append(
                f"read confirmations: {where}: {login} confirmed {document} revision {revision}, never released"
            )
    return problems
