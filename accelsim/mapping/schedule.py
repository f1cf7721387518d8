"""A layer's tile pipeline in closed form, and the grouped recurrence the SimPy model runs.

A layer's tiles are identical, so its double-buffered two-stage pipeline (every level's DMA engine moves a
tile's share concurrently; the compute unit takes a tile once it has arrived and the previous one is done)
has an exact closed form: the access latency, the first tile's transfer, one max(transfer, compute) per
further tile, the last tile's compute:

    cycles = latency + d / n + (n - 1) / n * max(c, d) + c / n      (d, c: the layer's transfer and compute)

It is strictly better in n, d, c than any coarser model and is what :func:`layer_cycles` returns and the
mapper optimizes (so more capacity, bandwidth, units or clock can never make a layer slower). The SimPy
model in :mod:`accelsim.timing.pipeline` simulates the same schedule event by event (exact for up to
``MAX_GROUPS`` + 2 tiles, then grouped); the whole-network discrete-event model is where contention between
layers needs a simulation.
"""

from __future__ import annotations

import math

import numpy as np

MAX_GROUPS = 32


def _groups(tiles: int) -> list[int]:
    """Tile counts per simulated step: fill tile, <= MAX_GROUPS steady groups, drain tile."""
    if tiles <= MAX_GROUPS + 2:
        return [1] * tiles
    middle = tiles - 2
    g = math.ceil(middle / MAX_GROUPS)
    steps = [g] * (middle // g)
    if middle % g:
        steps.append(middle % g)
    return [1] + steps + [1]



def pipeline_cycles(tiles, compute_cycles, transfer_cycles, latency_cycles, buffers: int = 2):
    """The same schedule as :func:`simulate_layer`, as its max-plus recurrence, vectorized over candidates.

    ``tiles``, ``compute_cycles`` and ``transfer_cycles`` (the slowest level's cycles: every level's engine
    moves its share of a step concurrently) may be numpy arrays of candidate mappings; returns the cycles of
    each (float, before rounding up). With two buffers, step k's transfer starts when the transfer of step
    k-1 has finished and a buffer is free (step k-2's compute is done); its compute starts when its data
    has arrived and step k-1's compute is done. The mapper uses it to pick, among the tilings that fit, the
    one the simulation will find fastest."""
    tiles = np.maximum(1, np.asarray(tiles, dtype=np.int64))
    compute = np.asarray(compute_cycles, dtype=np.float64)
    transfer = np.asarray(transfer_cycles, dtype=np.float64)
    tiles, compute, transfer = np.broadcast_arrays(tiles, compute, transfer)
    out = np.empty(tiles.shape, dtype=np.float64)
    flat_t, flat_o = tiles.reshape(-1), out.reshape(-1)
    flat_c, flat_d = compute.reshape(-1), transfer.reshape(-1)
    for n in np.unique(flat_t):  # candidates with the same tile count share the step grouping: vectorize them
        idx = np.nonzero(flat_t == n)[0]
        c, d = flat_c[idx] / n, flat_d[idx] / n
        steps = _groups(int(n))
        load_end = np.zeros(idx.size)
        compute_end: list = []
        for k, g in enumerate(steps):
            start = np.maximum(load_end, compute_end[k - buffers]) if k >= buffers else load_end
            load_end = start + (latency_cycles if k == 0 else 0.0) + d * g
            done = np.maximum(load_end, compute_end[k - 1]) if k else load_end
            compute_end.append(done + c * g)
        flat_o[idx] = compute_end[-1]
    return out


def layer_cycles(tiles, compute_cycles, transfer_cycles, latency_cycles):
    """Exact cycles of a layer's pipeline of ``tiles`` identical tiles (numpy-broadcasting over candidates)."""
    n = np.maximum(1, np.asarray(tiles, dtype=np.float64))
    c = np.asarray(compute_cycles, dtype=np.float64)
    d = np.asarray(transfer_cycles, dtype=np.float64)
    return latency_cycles + d / n + (n - 1) / n * np.maximum(c, d) + c / n
