"""Sock patterns among attestations: voices that look independent but are one. Pure.

An owner is one voice whatever number of identities it holds. Attestations count towards an effect by
distinct owner, never by identity, and an owner never attests its own problem. The report finds what
slipped through or was tried: attestations by the problem's own owner, several attesters of one status
sharing an owner, several sharing a registration address.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

Pattern = Literal["same_owner_as_problem", "shared_owner", "shared_address"]
UNKNOWN_ADDRESSES = frozenset({"unknown", "internal"})


def distinct_owner_counts(attesters: Iterable[tuple[str, UUID]]) -> dict[str, int]:
    """Per status, the number of distinct owners among `(status, owner_id)` pairs: what effects count."""
    owners: dict[str, set[UUID]] = defaultdict(set)
    for status, owner in attesters:
        owners[status].add(owner)
    return {status: len(found) for status, found in owners.items()}


@dataclass(frozen=True)
class Attestation:
    problem_id: UUID
    status: str
    human_id: UUID
    human_owner: UUID
    problem_owner: UUID
    address: str  # fingerprint of the address the human registered from


@dataclass(frozen=True)
class SockGroup:
    problem_id: UUID
    status: str
    pattern: Pattern
    attester_ids: tuple[UUID, ...]
    distinct_owners: int


def sock_groups(attestations: Iterable[Attestation]) -> list[SockGroup]:
    """Every sock pattern among the attestations, grouped by (problem, status, pattern), sorted by
    problem, status and pattern. An attestation may appear in several patterns."""
    by_key: dict[tuple[UUID, str], list[Attestation]] = defaultdict(list)
    for a in attestations:
        by_key[a.problem_id, a.status].append(a)
    groups: list[SockGroup] = []
    for (problem_id, status), found in by_key.items():
        own = [a for a in found if a.human_owner == a.problem_owner]
        if own:
            groups.append(_sock_group(problem_id, status, "same_owner_as_problem", own))
        by_owner: Mapping[object, list[Attestation]] = _group(found, lambda a: a.human_owner)
        shared_owner = [a for members in by_owner.values() if len(members) > 1 for a in members]
        if shared_owner:
            groups.append(_sock_group(problem_id, status, "shared_owner", shared_owner))
        by_address = _group([a for a in found if a.address not in UNKNOWN_ADDRESSES], lambda a: a.address)
        shared_address = [a for members in by_address.values() if len({m.human_owner for m in members}) > 1
                          for a in members]
        if shared_address:
            groups.append(_sock_group(problem_id, status, "shared_address", shared_address))
    groups.sort(key=lambda g: (str(g.problem_id), g.status, g.pattern))
    return groups


def _sock_group(problem_id: UUID, status: str, pattern: Pattern, members: list[Attestation]) -> SockGroup:
    ids = tuple(sorted({m.human_id for m in members}))
    return SockGroup(problem_id, status, pattern, ids, len({m.human_owner for m in members}))


def _group(items: Iterable[Attestation], key: Callable[[Attestation], object]) -> dict[object, list[Attestation]]:
    grouped: dict[object, list[Attestation]] = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return grouped
