"""Map a GEMM onto a rows x cols array and tile it through the memory hierarchy.

Array schedule (SCALE-Sim's analytical model, checked against SCALE-Sim v3 in tests/timing):
the GEMM is cut into folds of the array; per dataflow the spatial rows Sr, spatial columns Sc and
temporal dimension T are

    output stationary  (os): Sr = M, Sc = N, T = K;   per fold T + R + C - 2 cycles (operand skew in,
                                                       results drained out through the array)
    weight stationary  (ws): Sr = K, Sc = N, T = M;   per fold T + 2R + C - 2 (R cycles to load weights)
    input stationary   (is): Sr = K, Sc = M, T = N;   per fold T + 2R + C - 2

folds = ceil(Sr / R) x ceil(Sc / C) per GEMM (x batch), spread over ``count`` arrays; the layer
takes ceil(folds / count) x per-fold - 1 cycles (SCALE-Sim counts from cycle 0).
K-chunking: on ws/is arrays K is reduced R rows at a time (partial sums spill between folds); on
os arrays the whole K accumulates in place. This is :meth:`HardwareProfile.k_chunk`, the order the
numerics follow.

Memory hierarchy: for every on-chip level (outermost first) a tile (tm, tk, tn) is chosen that fits
the level double-buffered (2 x (A tile + B tile) + the C tile at accumulator width) and minimizes
the bytes moved in from the parent level over two loop orders with K innermost (so partial sums stay
on chip): ``mnk`` (A tile reused across the n loop when K is not tiled) and ``nmk`` (B tile reused
across the m loop when K is not tiled). The innermost level feeds the array, whose operand demand
follows the dataflow (e.g. ws: every weight read once, activations once per column fold, partial sums
read and written once per extra row fold).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np

from accelsim.hardware import HardwareProfile
from accelsim.mapping.gemm import GemmView, gemm_view
from accelsim.mapping.schedule import layer_cycles
from accelsim.workload.layers import Layer


def _bytes(elements: int, bits: int) -> int:
    return math.ceil(elements * bits / 8)


def spatial_temporal(dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(Sr, Sc, T) of a GEMM under ``dataflow`` (SCALE-Sim's convention)."""
    if dataflow == "output_stationary":
        return m, n, k
    if dataflow == "weight_stationary":
        return k, n, m
    if dataflow == "input_stationary":
        return k, m, n
    raise ValueError(f"unknown dataflow '{dataflow}'")


def fold_cycles(dataflow: str, t: int, rows: int, cols: int) -> int:
    """Cycles of one fold (one array-full of stationary operands) streaming ``t`` steps."""
    if dataflow == "output_stationary":
        return t + rows + cols - 2
    return t + 2 * rows + cols - 2


def array_compute_cycles(dataflow: str, m: int, k: int, n: int, rows: int, cols: int, count: int = 1,
                         batch: int = 1) -> tuple[int, int, int]:
    """(cycles, row_folds, col_folds) for ``batch`` GEMMs M x K x N on ``count`` arrays, no stalls."""
    sr, sc, t = spatial_temporal(dataflow, m, k, n)
    row_folds, col_folds = math.ceil(sr / rows), math.ceil(sc / cols)
    folds = batch * row_folds * col_folds
    if folds == 0 or t == 0:
        return 0, row_folds, col_folds
    return math.ceil(folds / count) * fold_cycles(dataflow, t, rows, cols) - 1, row_folds, col_folds


@dataclass(frozen=True)
class Tiling:
    """The GEMM tile held in one on-chip level (double-buffered) and the loop order over tiles."""

    level: str
    tile_m: int
    tile_k: int
    tile_n: int
    loop_order: str   # outer -> inner over tiles, K innermost: "mnk" or "nmk"
    tiles: int        # number of (m, k, n) tiles per layer (all batches)
    cores_busy: int = 0   # matrix units' CTA tiles: the cores their CTAs occupy (0: not a CTA tiling)


@dataclass(frozen=True)
class LevelTraffic:
    """Bytes moved into ``level`` from its parent (or, for the array, read from the innermost level)."""

    level: str
    a_bytes: int
    b_bytes: int
    c_bytes: int        # outputs written back (at output width)
    psum_bytes: int = 0  # partial sums read + written between folds (accumulator width)

    @property
    def total(self) -> int:
        return self.a_bytes + self.b_bytes + self.c_bytes + self.psum_bytes


@dataclass(frozen=True)
class Mapping:
    """How one MAC layer runs: array schedule, K-chunks, tiles per level and data movement."""

    layer: str
    view: GemmView
    dataflow: str
    rows: int
    cols: int
    count: int
    row_folds: int
    col_folds: int
    k_chunk: int | None
    compute_cycles: int
    tilings: tuple[Tiling, ...]         # one per on-chip level, outermost first
    traffic: tuple[LevelTraffic, ...]   # [0]: DRAM -> first on-chip level, ..., then the array's reads
    #: cores (HardwareProfile.array.cores: arrays, SMs, CPU cores) the layer keeps busy: fewer than all when it has
    #: fewer folds / CTAs / dot-product steps than cores; the others are free for an independent layer
    cores_busy: int = 1

    @property
    def dram_bytes(self) -> int:
        return self.traffic[0].total

    @property
    def macs(self) -> int:
        return self.view.macs


def _candidates(dim: int, base: int) -> np.ndarray:
    """Tile sizes for one dimension: multiples of the array fold (base) by powers of two, and the full dim."""
    vals = {dim}
    v = max(1, min(base, dim))
    while v < dim:
        vals.add(v)
        v *= 2
    return np.array(sorted(vals), dtype=np.int64)


def _level_candidates(view: GemmView, capacity: int, a_bits: int, b_bits: int, c_bits: int, acc_bits: int,
                      rows: int, cols: int, dataflow: str) -> list[tuple[Tiling, LevelTraffic]]:
    """The tiles that fit a level of ``capacity`` bytes (double-buffered), each with the bytes it moves in from
    the parent level, reduced to the Pareto front of (bytes moved, tile count); empty if none fits."""
    m, k, n = view.m, view.k, view.n
    sr_base = {"output_stationary": (rows, 1, cols), "weight_stationary": (1, rows, cols),
               "input_stationary": (cols, rows, 1)}[dataflow]
    tm = _candidates(m, sr_base[0])[:, None, None]
    tk = _candidates(k, sr_base[1])[None, :, None]
    tn = _candidates(n, sr_base[2])[None, None, :]
    need = 2 * ((tm * tk * a_bits + tk * tn * b_bits + 7) // 8) + (tm * tn * acc_bits + 7) // 8
    fits = need <= capacity
    if not fits.any():
        return []
    mt, kt, nt = -(-m // tm), -(-k // tk), -(-n // tn)
    a_total, b_total = _bytes(view.a_stored_elements // view.batch, a_bits), _bytes(k * n, b_bits)
    # mnk: A tile stays while n loops if K is not tiled; B re-read per m tile unless all of B fits
    a_mnk = np.where(kt == 1, a_total, a_total * nt)
    b_mnk = np.where((kt == 1) & (nt == 1), b_total, b_total * mt)
    # nmk: B tile stays while m loops if K is not tiled; A re-read per n tile unless all of A fits
    b_nmk = np.where(kt == 1, b_total, b_total * mt)
    a_nmk = np.where((kt == 1) & (mt == 1), a_total, a_total * nt)
    c_bytes = _bytes(view.c_elements, c_bits)
    shape = np.broadcast_shapes(tm.shape, tk.shape, tn.shape)
    tiles = np.broadcast_to(view.batch * mt * kt * nt, shape)
    # every fitting (tile, loop order), mnk first then nmk, each in C order of the tile grid
    fit_idx = np.nonzero(np.broadcast_to(fits, shape))
    a_parts, b_parts = [], []
    for a, b in ((a_mnk, b_mnk), (a_nmk, b_nmk)):
        a_parts.append(np.broadcast_to(a, shape)[fit_idx].astype(np.int64) * view.batch)
        b_parts.append(np.broadcast_to(b, shape)[fit_idx].astype(np.int64) * view.batch)
    a_all, b_all = np.concatenate(a_parts), np.concatenate(b_parts)
    total = a_all + b_all
    ntiles = np.tile(tiles[fit_idx].astype(np.int64), 2)
    # the Pareto front: fewer bytes moved, or more (smaller) tiles for a finer pipeline; nothing else matters
    # to the schedule (accelsim.mapping.schedule.layer_cycles). Sorted by (bytes, -tiles), stable; a candidate
    # joins the front when it has more tiles than every one before it
    order_idx = np.lexsort((-ntiles, total))
    t_sorted = ntiles[order_idx]
    before = np.concatenate(([0], np.maximum.accumulate(t_sorted)[:-1]))
    front = []
    n_fit = fit_idx[0].size
    for j in order_idx[t_sorted > before]:
        i = j % n_fit
        bm, bk, bn = int(tm[fit_idx[0][i], 0, 0]), int(tk[0, fit_idx[1][i], 0]), int(tn[0, 0, fit_idx[2][i]])
        front.append((Tiling(level="", tile_m=bm, tile_k=bk, tile_n=bn, loop_order="mnk" if j < n_fit else "nmk",
                             tiles=int(ntiles[j])),
                      LevelTraffic(level="", a_bytes=int(a_all[j]), b_bytes=int(b_all[j]), c_bytes=c_bytes)))
    return front


def _array_reads(view: GemmView, dataflow: str, row_folds: int, col_folds: int, a_bits: int, b_bits: int,
                 c_bits: int, acc_bits: int) -> LevelTraffic:
    """Operand demand of the array on the innermost level (bytes)."""
    b = view.batch
    a_all, b_all = _bytes(view.a_elements, a_bits), _bytes(view.b_elements, b_bits)
    c_all = _bytes(view.c_elements, c_bits)
    psum = 0
    if dataflow == "output_stationary":     # Sr = M, Sc = N: A once per column fold, B once per row fold
        a_rd, b_rd = a_all * col_folds, b_all * row_folds
    elif dataflow == "weight_stationary":   # Sr = K, Sc = N: B once, A once per column fold
        a_rd, b_rd = a_all * col_folds, b_all
        psum = 2 * (row_folds - 1) * _bytes(view.c_elements, acc_bits)
    else:                                   # input stationary: Sr = K, Sc = M: A once, B once per column fold
        a_rd, b_rd = a_all, b_all * col_folds
        psum = 2 * (row_folds - 1) * _bytes(view.c_elements, acc_bits)
    del b
    return LevelTraffic(level="array", a_bytes=a_rd, b_bytes=b_rd, c_bytes=c_all, psum_bytes=psum)


def register_block(view: GemmView, register_tile: int) -> tuple[int, int]:
    """(mr, nr): the accumulator block a SIMD / matrix kernel keeps in registers, mr x nr <= register_tile,
    chosen to read the fewest operand bytes from the innermost level (A once per nr columns, B once per mr
    rows): a GEMV (M = 1) takes mr = 1 and the widest nr, a square GEMM a square block."""
    best, best_cost = (1, 1), None
    mr = 1
    while mr <= max(1, min(view.m, register_tile)):
        nr = max(1, min(view.n, register_tile // mr))
        cost = view.m * view.k * math.ceil(view.n / nr) + view.k * view.n * math.ceil(view.m / mr)
        if best_cost is None or cost < best_cost:
            best, best_cost = (mr, nr), cost
        mr *= 2
    return best


def dot_compute_cycles(view: GemmView, profile: HardwareProfile) -> int:
    """Cycles of a GEMM on a ``simd_dot`` unit: each of ``count`` cores issues ``cols`` lanes x ``rows``-deep dot
    products per cycle; M runs in time, K in steps of ``rows``, N in steps of ``cols``."""
    arr = profile.array
    return math.ceil(_dot_steps(view, profile) / arr.count / arr.efficiency)


def _dot_steps(view: GemmView, profile: HardwareProfile) -> int:
    """Dot-product steps of a GEMM on a SIMD unit: ``cols`` lanes of ``rows``-deep dot products each."""
    arr = profile.array
    return view.batch * view.m * math.ceil(view.k / arr.rows) * math.ceil(view.n / arr.cols)


#: CTA (thread-block) tile sizes a matrix-unit kernel library offers (CUTLASS's int8 tile shapes)
_CTA_M = (16, 32, 64, 128, 256)
_CTA_N = (32, 64, 128, 256)
_CTA_K = (32, 64, 128)
_SPLIT_K = (1, 2, 3, 4, 6, 8)
#: at most this many combinations of per-level tiles are scored for one layer
MAX_COMBINATIONS = 20_000
#: M rows of one MMA instruction (PTX mma.sync int8 / fp16 shapes m16n8k*): a smaller M is padded
MMA_M = 16


def _matrix_cta(view: GemmView, profile: HardwareProfile, a_bits: int, b_bits: int, level) -> list[tuple]:
    """CTA tiles of a matrix unit that fit: (TM, TN, TK, compute cycles, a_bytes, b_bytes, tiles, cores busy), the Pareto
    front of (cycles, bytes, tile count); :func:`_choose` picks the one the pipeline finishes first.

    A CTA tile is staged in one core's share of the innermost on-chip level (double-buffered A and B panels);
    CTAs are spread over the cores in waves (the last wave may be partial: wave quantization); a CTA's A panel
    is loaded once per N tile and its B panel once per M tile, from the parent level at its bandwidth."""
    arr = profile.array
    cores = arr.cores
    per_core = level.bytes // cores
    found: list = []
    for tm in _CTA_M:
        for tn in _CTA_N:
            for tk in _CTA_K:
                if 2 * (_bytes(tm * tk, a_bits) + _bytes(tk * tn, b_bits)) > per_core:
                    continue
                mt, nt = math.ceil(view.m / tm), math.ceil(view.n / tn)
                k_steps = math.ceil(view.k / tk)
                # split-K (CUTLASS stream-K / cuBLAS split-K): a tile's K loop is shared by `split` CTAs when there
                # are too few tiles to fill the cores; each extra slice writes and reads back a 32-bit partial tile
                for split in _SPLIT_K:
                    if split > 1 and (split > k_steps or view.batch * mt * nt * split > 2 * cores):
                        break
                    ctas = view.batch * mt * nt * split
                    # one CTA: its (MMA-padded) rows x its K slice in steps of the unit's depth x N steps of its
                    # width, shared by the core's units
                    rows_done = min(tm, math.ceil(view.m / MMA_M) * MMA_M)
                    k_slice = math.ceil(k_steps / split) * tk
                    cta_cycles = math.ceil(rows_done * math.ceil(min(k_slice, view.k) / arr.rows)
                                           * math.ceil(min(tn, view.n) / arr.cols) / arr.units_per_core
                                           / arr.efficiency)
                    schedules = [(math.ceil(ctas / cores) * cta_cycles, 2 * (split - 1) * view.batch * mt * nt * tm * tn * 4,
                                  min(cores, ctas))]
                    if split == 1 and ctas > cores and ctas % cores:
                        # stream-K (CUTLASS 3's StreamK scheduler, Osama et al., PPoPP 2023): the last partial wave's
                        # K iterations are spread over all cores; each core fixes up one partial 32-bit tile. Offered
                        # beside the data-parallel schedule, not instead of it: its fix-up traffic grows with the
                        # core count, so the choice is the pipeline's (and more cores are never slower)
                        streamk = math.ceil(ctas * cta_cycles / cores) + math.ceil(cta_cycles / k_steps)
                        if streamk < schedules[0][0]:
                            schedules.append((streamk, 2 * cores * tm * tn * 4, cores))
                    # a cluster of CTAs along N shares each A panel load (Hopper TMA multicast): A is fetched
                    # once per cluster of N tiles
                    a_bytes = _bytes(view.a_stored_elements, a_bits) * math.ceil(nt / arr.cluster)
                    tiles = view.batch * mt * nt * k_steps
                    for cycles, partials, busy in schedules:
                        b_bytes = _bytes(view.b_elements, b_bits) * mt + partials
                        found.append((cycles, a_bytes + b_bytes, -tiles,
                                      (tm, tn, tk, cycles, a_bytes, b_bytes, tiles, busy)))
    if not found:
        raise ValueError(f"the on-chip level '{level.name}' ({per_core} bytes per core) cannot hold one "
                         f"{_CTA_M[0]}x{_CTA_K[0]} + {_CTA_K[0]}x{_CTA_N[0]} CTA tile double-buffered")
    # the Pareto front over (compute cycles, bytes loaded, tile count): what the schedule depends on
    found.sort()
    front: list = []
    for cycles, nbytes, neg_tiles, cand in found:
        if not any(f[0] <= cycles and f[1] <= nbytes and f[2] <= neg_tiles for f in front):
            front.append((cycles, nbytes, neg_tiles, cand))
    return [f[3] for f in front]


def _register_reads(view: GemmView, profile: HardwareProfile, a_bits: int, b_bits: int, c_bits: int) -> LevelTraffic:
    """Operand reads of a SIMD / matrix unit from the innermost level: once per register block."""
    mr, nr = register_block(view, profile.array.register_tile)
    return LevelTraffic(level="array", a_bytes=_bytes(view.a_elements, a_bits) * math.ceil(view.n / nr),
                        b_bytes=_bytes(view.b_elements, b_bits) * math.ceil(view.m / mr),
                        c_bytes=_bytes(view.c_elements, c_bits))


@dataclass(frozen=True)
class OnChip:
    """What fusion keeps on chip for a layer: its A operand (produced on chip, e.g. attention's P) and whether
    its output is written back to DRAM. The tiles are chosen on the traffic that remains."""

    a_operand: bool = False
    writes_output: bool = True


def _fused_traffic(options: list[list[tuple]], on_chip: OnChip) -> list[list[tuple]]:
    """Per level's candidates with what stays on chip removed from the traffic into the levels."""
    if not on_chip.a_operand and on_chip.writes_output:
        return options
    return [[(c, t, dataclasses.replace(m, a_bytes=0 if on_chip.a_operand else m.a_bytes,
                                        c_bytes=m.c_bytes if on_chip.writes_output else 0)) for c, t, m in opts]
            for opts in options]


def map_gemm(name: str, view: GemmView, profile: HardwareProfile, a_bits: int, b_bits: int,
             c_bits: int, on_chip: OnChip = OnChip()) -> Mapping:
    """Map a GEMM view with operand widths (bits) onto ``profile``; ``on_chip``: what fusion keeps on chip."""
    arr = profile.array
    if arr.kind != "systolic":
        return _map_register_blocked(name, view, profile, a_bits, b_bits, c_bits, on_chip)
    acc_bits = profile.accumulator.spill_bits
    cycles, row_folds, col_folds = array_compute_cycles(arr.dataflow, view.m, view.k, view.n, arr.rows, arr.cols,
                                                        arr.count, view.batch)
    options = []
    for level in profile.on_chip:
        found = _level_candidates(view, level.bytes, a_bits, b_bits, c_bits, acc_bits, arr.rows, arr.cols,
                                  arr.dataflow)
        options.append([(cycles, t, m) for t, m in found] or [(cycles, *_streamed(view, a_bits, b_bits, c_bits))])
    array = _array_reads(view, arr.dataflow, row_folds, col_folds, a_bits, b_bits, c_bits, acc_bits)
    cycles, tilings, traffic = _choose(profile, _fused_traffic(options, on_chip), array)
    return Mapping(layer=name, view=view, dataflow=arr.dataflow, rows=arr.rows, cols=arr.cols, count=arr.count,
                   row_folds=row_folds, col_folds=col_folds, k_chunk=profile.k_chunk(view.k),
                   compute_cycles=cycles, tilings=tilings, traffic=(*traffic, array),
                   cores_busy=max(1, min(arr.cores, view.batch * row_folds * col_folds)))


def _streamed(view: GemmView, a_bits: int, b_bits: int, c_bits: int) -> tuple[Tiling, LevelTraffic]:
    """A level too small for any tile: operands stream straight through, with no reuse at all."""
    return (Tiling("", 1, 1, 1, "mnk", view.batch * view.m * view.k * view.n),
            LevelTraffic("", _bytes(view.macs, a_bits), _bytes(view.macs, b_bits), _bytes(view.c_elements, c_bits)))


def _choose(profile: HardwareProfile, options: list[list[tuple]], array: LevelTraffic):
    """(compute cycles, tilings, traffic) of the combination of per-level tiles the pipeline finishes first.

    ``options[i]``: candidates for on-chip level i, each (compute cycles, Tiling, LevelTraffic moved in from
    level i's parent). Every combination is scored with the layer's pipeline schedule
    (:func:`accelsim.mapping.schedule.layer_cycles`: tile count = the finest level's, each tile as slow as the
    slowest level's transfer), so the choice is the fastest among the tiles that fit: more capacity, bandwidth,
    units or clock only add or speed up candidates, and can never make it slower. Ties go to the least energy.
    ``profile.mapping_objective`` (the runtime's compiler) may rank by energy or by energy x delay instead."""
    clock = profile.clock_hz
    parents = [profile.dram, *profile.on_chip]
    feed = (array.total - array.psum_bytes) / profile.memory[-1].bandwidth_Bps * clock
    per_level = [[(c, t, m, m.total / parents[i].bandwidth_Bps * clock) for c, t, m in opts]
                 for i, opts in enumerate(options)]
    # deep hierarchies: keep the joint search bounded (evenly spaced front points, both ends kept); the
    # never-slower guarantee holds where no front is thinned (every built-in profile: fronts of <= 30 points)
    while math.prod(len(o) for o in per_level) > MAX_COMBINATIONS:
        widest = max(range(len(per_level)), key=lambda i: len(per_level[i]))
        front = per_level[widest]
        per_level[widest] = front[::2] + ([front[-1]] if len(front) % 2 == 0 else [])
    combos = list(itertools.product(*per_level))
    compute = np.array([max(c for c, _, _, _ in combo) for combo in combos], dtype=np.float64)
    transfer = np.array([max([feed] + [x for _, _, _, x in combo]) for combo in combos])
    tiles = np.array([max(t.tiles for _, t, _, _ in combo) for combo in combos], dtype=np.int64)
    cycles = np.ceil(layer_cycles(tiles, compute, transfer, profile.startup_cycles) - 1e-9)
    # each combination's energy as far as the choice changes it: the bytes each level takes from its parent at the
    # parent's access energy, and static power over the layer's cycles (the MACs and the array's reads are the same
    # for every combination)
    moved_pj = np.array([sum(m.total * parents[i].energy_pj_per_byte for i, (_, _, m, _) in enumerate(combo))
                         for combo in combos], dtype=np.float64)
    energy = moved_pj + cycles * profile.energy.static_power_w / clock * 1e12
    objective = profile.mapping_objective
    if objective == "energy":
        best = min(range(len(combos)), key=lambda i: (energy[i], cycles[i]))
    elif objective == "edp":
        best = min(range(len(combos)), key=lambda i: (energy[i] * cycles[i], cycles[i]))
    else:   # latency, energy as the tie-break
        best = min(range(len(combos)), key=lambda i: (cycles[i], energy[i]))
    combo = combos[best]
    names = [lv.name for lv in profile.on_chip]
    tilings = tuple(dataclasses.replace(t, level=name) for (_, t, _, _), name in zip(combo, names))
    traffic = tuple(dataclasses.replace(m, level=name) for (_, _, m, _), name in zip(combo, names))
    return int(compute[best]), tilings, traffic


def _map_register_blocked(name: str, view: GemmView, profile: HardwareProfile, a_bits: int, b_bits: int,
                          c_bits: int, on_chip: OnChip = OnChip()) -> Mapping:
    """SIMD dot-product and matrix units: accumulators in registers (output-stationary over the whole K), operands
    read from the innermost level once per register block; on a matrix unit the innermost level is tiled per
    core with CTA tiles (and their wave quantization decides the compute cycles)."""
    arr = profile.array
    acc_bits = profile.accumulator.spill_bits
    levels = profile.on_chip
    cycles = dot_compute_cycles(view, profile) if arr.kind == "simd_dot" else 0
    options = []
    for i, level in enumerate(levels):
        innermost = i == len(levels) - 1
        if arr.kind == "matrix" and innermost:
            options.append([(c, Tiling("", tm, tk, tn, "mnk", tiles, busy),
                             LevelTraffic("", a_bytes, b_bytes, _bytes(view.c_elements, c_bits)))
                            for tm, tn, tk, c, a_bytes, b_bytes, tiles, busy in _matrix_cta(view, profile, a_bits,
                                                                                           b_bits, level)])
            continue
        capacity = level.bytes // (arr.cores if innermost else 1)
        found = _level_candidates(view, capacity, a_bits, b_bits, c_bits, acc_bits, 1, 1, "output_stationary")
        options.append([(cycles, t, m) for t, m in found] or [(cycles, *_streamed(view, a_bits, b_bits, c_bits))])
    array = _register_reads(view, profile, a_bits, b_bits, c_bits)
    cycles, tilings, traffic = _choose(profile, _fused_traffic(options, on_chip), array)
    return Mapping(layer=name, view=view, dataflow="output_stationary", rows=arr.rows, cols=arr.cols,
                   count=arr.count, row_folds=1, col_folds=1, k_chunk=profile.k_chunk(view.k), compute_cycles=cycles,
                   tilings=tilings, traffic=(*traffic, array), cores_busy=_cores_busy(view, profile, tilings))


def _cores_busy(view: GemmView, profile: HardwareProfile, tilings: tuple[Tiling, ...]) -> int:
    """Cores a register-blocked layer occupies: a matrix unit's CTAs (the chosen schedule's), a SIMD unit's
    dot-product steps (spread over the cores, one step at least each)."""
    arr = profile.array
    if arr.kind == "matrix" and tilings and tilings[-1].cores_busy:
        return tilings[-1].cores_busy
    return max(1, min(arr.cores, _dot_steps(view, profile)))


def map_layer(layer: Layer, profile: HardwareProfile, a_bits: int, w_bits: int, out_bits: int | None = None,
              b_bits: int | None = None, on_chip: OnChip = OnChip()) -> Mapping:
    """Map a MAC layer. ``b_bits``: width of a matmul's B operand (e.g. the KV cache), else ``w_bits``;
    ``on_chip``: what fusion keeps on chip (the tiles are chosen on the remaining traffic)."""
    view = gemm_view(layer)
    bb = w_bits if view.b_is_weight else (b_bits or a_bits)
    return map_gemm(layer.name, view, profile, a_bits, bb, out_bits or a_bits, on_chip)
