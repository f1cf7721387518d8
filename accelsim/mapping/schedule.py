"""A layer's tile pipeline in closed form.

A layer's tiles are identical, so its double-buffered two-stage pipeline (every level's DMA engine moves a
tile's share concurrently; the compute unit takes a tile once it has arrived and the previous one is done)
has an exact closed form: the access latency, the first tile's transfer, one max(transfer, compute) per
further tile, the last tile's compute:

    cycles = latency + d / n + (n - 1) / n * max(c, d) + c / n      (d, c: the layer's transfer and compute)

It is strictly better in n, d, c than any coarser model and is what :func:`layer_cycles` returns and the
mapper optimizes (so more capacity, bandwidth, units or clock can never make a layer slower). The SimPy
model in :mod:`accelsim.timing.pipeline` simulates the same schedule event by event (exact for a few tiles,
then grouped); the whole-network discrete-event model is where contention between layers needs a
simulation.
"""

from __future__ import annotations

import numpy as np


def layer_cycles(tiles, compute_cycles, transfer_cycles, latency_cycles):
    """Exact cycles of a layer's pipeline of ``tiles`` identical tiles (numpy-broadcasting over candidates)."""
    n = np.maximum(1, np.asarray(tiles, dtype=np.float64))
    c = np.asarray(compute_cycles, dtype=np.float64)
    d = np.asarray(transfer_cycles, dtype=np.float64)
    return latency_cycles + d / n + (n - 1) / n * np.maximum(c, d) + c / n
