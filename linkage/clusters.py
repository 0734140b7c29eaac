"""Clusters of suspected pairs: persons registered more than once."""

from __future__ import annotations

import pandas as pd


def clusters(pairs: pd.DataFrame) -> pd.Series:
    """Connected components of the pairs: a cluster id (the smallest person id in the
    component) for each pair, in the pairs' order."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in zip(pairs["person_id_a"], pairs["person_id_b"], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return pd.Series([find(a) for a in pairs["person_id_a"]], index=pairs.index, dtype=object)
