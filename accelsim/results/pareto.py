"""Pareto dominance over several objectives (the sweep's and the recipe search's fronts)."""

from __future__ import annotations

import numpy as np


def pareto_flags(points: list[tuple[float, ...]], maximize: tuple[bool, ...]) -> list[bool]:
    """True for each point no other point dominates (at least as good on every objective, better on one).
    O(n^2 k) vectorized per point: fine for the tens of thousands of points a sweep has."""
    if not points:
        return []
    a = np.asarray(points, dtype=np.float64) * np.where(np.asarray(maximize), 1.0, -1.0)  # larger is better
    flags = []
    for p in a:
        ge = np.all(a >= p, axis=1)
        gt = np.any(a > p, axis=1)
        flags.append(not bool(np.any(ge & gt)))
    return flags
