"""Clusters of near-duplicates: which row each cluster keeps, and for every other row the
row it was dropped for.

A cluster is a connected component of the near-duplicate pairs. It keeps the rows that must
stay (already published) or, when it has none, the one row that comes first in the caller's
order. Every other row is dropped for a row it matched directly: its parent in a maximum
spanning tree of the cluster grown from the kept rows (Prim's algorithm), so the ledger
names a real match at or above the threshold, and following matches always ends at a kept
row. Hand-written (about twenty lines) because no library grows one spanning tree from
several roots, and clusters are small: the pairs, not the rows, set the cost.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def drop_for(
    pairs: Iterable[tuple[Node, Node, float]],
    order: Mapping[Node, tuple],
    fixed: set[Node],
) -> dict[Node, tuple[Node, float]]:
    """For every row to drop: (the row it matched, their similarity).

    `pairs` are (row, row, similarity); `order` sorts every row that appears in one, the
    one to keep first; rows in `fixed` are never dropped, and trees grow from them first.
    """
    neighbours: dict[Node, list[tuple[float, Node]]] = defaultdict(list)
    for a, b, similarity in pairs:
        neighbours[a].append((similarity, b))
        neighbours[b].append((similarity, a))
    matched: dict[Node, tuple[Node, float]] = {}
    reached: set[Node] = set()
    roots = sorted(neighbours, key=lambda node: (node not in fixed, order[node]))
    for root in roots:
        if root not in reached:
            _grow(root, neighbours, order, reached, matched)
    return {node: match for node, match in matched.items() if node not in fixed}


def _grow(
    root: Node,
    neighbours: Mapping[Node, list[tuple[float, Node]]],
    order: Mapping[Node, tuple],
    reached: set[Node],
    matched: dict[Node, tuple[Node, float]],
) -> None:
    """Prim's algorithm from `root`: attach each row of its cluster by its most similar
    match among the rows already attached."""
    reached.add(root)
    # Max-heap on similarity; ties go to the row first in `order`, for a stable ledger.
    frontier = [(-s, order[node], node, root) for s, node in neighbours[root]]
    heapq.heapify(frontier)
    while frontier:
        negative, _, node, parent = heapq.heappop(frontier)
        if node in reached:
            continue
        reached.add(node)
        matched[node] = (parent, -negative)
        for s, other in neighbours[node]:
            if other not in reached:
                heapq.heappush(frontier, (-s, order[other], other, node))
