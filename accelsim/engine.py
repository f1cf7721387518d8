"""One run: workload x profile -> legalize -> numerics + timing + energy -> result rows.

Data flows one way: config (Workload, HardwareProfile) -> plan (QuantPlan per layer) ->
simulate (numerics on the sample, timing on the full shapes) -> results (DataFrame) -> report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from accelsim.energy import layer_energy, op_energy
from accelsim.energy.area import contract_area
from accelsim.hardware import HardwareProfile
from accelsim.inttypes import type_bits
from accelsim.operands import FORMATS, format_bits, rate_class
from accelsim.quant import legalize
from accelsim.results.schema import ALL_COLUMNS
from accelsim.timing import layer_timing
from accelsim.timing.fusion import plan_fusion
from accelsim.timing.llm import model_llm
from accelsim.timing.network import simulate_profile_network
from accelsim.workload.data import DataSource
from accelsim.workload.workload import Workload


@dataclass
class RunResult:
    workload: Workload
    profile: HardwareProfile
    frame: pd.DataFrame
    notes: list[str]
    event_locations: list[dict] = field(default_factory=list)
    llm: dict | None = None  # whole-model LLM timing (prefill + decode), when the workload has an llm section
    changes: list = field(default_factory=list)  # LegalizationChange with measured cost, in layer order
    end_to_end: dict | None = None  # a real model's end-to-end metric (e.g. sentence-embedding cosine)
    event_grids: dict = field(default_factory=dict)  # layer -> accumulator events [output channel, K-chunk]
    diagnosis: list | None = None  # ONNX models: per integer layer, error split and outlier channels
    recalibration: dict | None = None  # ONNX models: end-to-end metric with accelsim's calibration methods
    network: dict | None = None  # the whole-network simulation: latency with prefetch and DRAM contention
    timing_only: bool = False    # numerics were skipped: every numerics field is None
    baseline: dict | None = None  # what quantization buys: this run against the float baseline on the same contract
    recipe: object | None = None  # the recipe applied (accelsim.quant.recipe.Recipe), None: the naive recipe
    tuned: object | None = None   # quant.recipe auto: the search (accelsim.tune.TuneResult)
    outcome: object | None = None  # the NumericsOutcome the run used (reusable for the same numerics contract)
    runtime: object | None = None  # the RuntimeProfile the contract ran under (None: the profile as given)
    contract: HardwareProfile | None = None  # the hardware contract before the runtime (None: ``profile`` itself)
    ideal: dict | None = None      # the same run at the datasheet bound (runtime ideal): ideal_bound()

    def summary(self) -> dict:
        f = self.frame
        cycles = int(f["cycles"].sum())
        return {
            "profile": self.profile.name,
            "runtime": None if self.runtime is None else self.runtime.name,
            "runtime_settings": None if self.runtime is None else self.runtime.as_dict(),
            "ideal": self.ideal,
            "workload": self.workload.name,
            "layers": len(f),
            "macs": int(f["macs"].sum()),
            "cycles": cycles,
            "latency_s": float(f["latency_s"].sum()),
            "energy_pj": float(f["energy_pj"].sum()),
            "utilization": float(f["macs"].sum() / (self.profile.peak_macs_per_cycle * cycles)) if cycles else 0.0,
            "overflow_events": None if self.timing_only else int(f["overflow_events"].sum()),
            "saturation_events": None if self.timing_only else int(f["saturation_events"].sum()),
            "final_sqnr_db": None if self.timing_only else float(f["sqnr_db"].iloc[-1]),
            "timing_only": self.timing_only,
            "numerics_sample": self.workload.sample,
            "legalization_notes": self.notes,
            "legalization": [c.as_dict() for c in self.changes],
            "event_locations": self.event_locations,
            "llm": self.llm,
            "end_to_end": self.end_to_end,
            "diagnosis": self.diagnosis,
            "recalibration": self.recalibration,
            "network": self.network,
            "vs_float_baseline": self.baseline,
            "area_mm2": contract_area(self.profile).total_mm2,
            "recipe": None if self.recipe is None else {
                "text": self.recipe.text, "steps": self.recipe.as_dict()["recipe"]["steps"],
                "searched": None if self.tuned is None else {
                    "trials": len(self.tuned.trials), "naive": self.tuned.evaluation["naive"],
                    "tuned": self.tuned.evaluation["tuned"], "metric": self.tuned.metric}},
        }


def operand_bits(type_name: str) -> float:
    """Bits per element an operand moves: an integer type's width, or a format's (block scales included)."""
    return format_bits(type_name) if type_name in FORMATS else type_bits(type_name)


def output_bits(plan, a_bits: float) -> float:
    """Bits per output element a MAC layer writes: its activation width, or 32 when a recipe's float epilogue writes
    float32 (the contract's epilogue output format; an fp16 store would halve it)."""
    return 32 if plan.output == "float" else a_bits


def math_format(plan) -> str:
    """The MAC format class a layer runs in: its activations' format, else its weights' (weight-only float
    quantization), else the integer datapath ("int8")."""
    for fmt in (plan.activations.type_name, plan.weights.type_name):
        if fmt in FORMATS:
            return rate_class(fmt)
    return "int8"


def _tiles_text(t) -> str:
    m = t.mapping
    if m is None:
        return "vector unit"
    tiles = " ".join(f"{x.level}:{x.tile_m}x{x.tile_k}x{x.tile_n}/{x.loop_order}" for x in m.tilings)
    return f"{m.dataflow} folds {m.row_folds}x{m.col_folds}" + (f"; {tiles}" if tiles else "")


@dataclass(frozen=True)
class NumericsOutcome:
    """What the numerics stage hands to the results: per-layer outcomes and the model-level metrics."""

    layers: dict                       # layer name -> LayerNumerics
    end_to_end: dict | None = None
    diagnosis: list | None = None
    recalibration: dict | None = None


def simulate_numerics(legal, data: DataSource, progress=None, diagnose: bool = False) -> NumericsOutcome:
    """The bit-accurate stage. Graph workloads (ONNX models, real models) run their graph once; ``diagnose`` adds
    the re-runs that show where accuracy goes (accelsim's calibration methods in place of the model's ranges,
    the glue's Q/DQ removed, per-channel weights), each a full run of the graph."""
    from accelsim.graph.run import run_graph_numerics

    workload = legal.workload
    spec = workload.graph if workload.graph is not None else layer_chain_spec(workload, data)
    numerics, end_to_end, diagnosis = run_graph_numerics(legal, diagnose=diagnose, spec=spec, progress=progress)
    recalibration = None
    if diagnose and end_to_end is not None:  # the variants are compared on the model's end-to-end metric
        recalibration = {m: _mean(run_graph_numerics(legal, recalibrate=m, diagnose=False, spec=spec))
                         for m in ("minmax", "percentile", "mse", "entropy")}
        g = spec.view
        if g.is_qdq:
            recalibration["glue Q/DQ removed"] = _mean(run_graph_numerics(legal, diagnose=False, float_glue=True,
                                                                          spec=spec))
            if any(L.kind != "matmul" and not L.b_q.per_channel for L in g.layers):
                recalibration["per-channel weights"] = _mean(run_graph_numerics(
                    legal, diagnose=False, per_channel_weights=True, spec=spec))
    if progress is not None and workload.graph is not None:
        for layer in workload.layers:
            progress(layer.name)
    return NumericsOutcome(numerics, end_to_end, diagnosis, recalibration)


def _mean(outcome) -> float:
    """The end-to-end metric's mean of a numerics outcome."""
    return outcome[1]["mean"]


def layer_chain_spec(workload: Workload, data: DataSource):
    """A workload of accelsim layers as a graph (accelsim.graph.layer_chain) on its numerics sample: calibration
    and evaluation on the same records, as the integer chain calibrates on the data it runs."""
    from accelsim.graph.layer_chain import input_feed, layers_graph
    from accelsim.graph.run import GraphSpec
    from accelsim.graph.view import GraphView

    feed = input_feed(workload, data)
    records = (feed,)
    return GraphSpec(view=GraphView(layers_graph(workload, data)), dims=(), calibration=records, evaluation=records,
                     synthetic=workload.data.source == "synthetic", metric=None)


def _timing_only_numerics(legal, progress=None) -> NumericsOutcome:
    """No numerics: every numerics field is empty (None in results), the legalization changes unmeasured."""
    from accelsim.numerics.execute import LayerNumerics

    layers = {}
    for layer in legal.workload.layers:
        res = LayerNumerics(layer=layer.name, overflow_events=None, saturation_events=None, sqnr_db=None,
                            sqnr_local_db=None, max_abs_error=None, mean_error=None, cosine=None, fast_path=None,
                            ran_in_float=layer.is_float)
        res.changes = list(legal.plans[layer.name].changes)
        layers[layer.name] = res
        if progress is not None:
            progress(layer.name)
    return NumericsOutcome(layers)


def run(workload: Workload, profile: HardwareProfile, data: DataSource | None = None, progress=None, *,
        diagnose: bool = False, timing_only: bool = False, recipe=None,
        numerics: NumericsOutcome | None = None, network: bool = True, runtime=None) -> RunResult:
    """Simulate ``workload`` on ``profile`` under ``runtime`` (an accelsim.runtime.RuntimeProfile, applied to the
    contract for timing; None: the profile exactly as given): legalize, apply the recipe (``recipe``, else the workload's; "auto":
    the best legal recipe ``accelsim.tune`` finds for this contract), numerics (bit-accurate; skipped with
    ``timing_only``), timing, energy, results. ``progress(layer_name)`` is called after each layer's numerics;
    ``diagnose`` adds the ONNX re-runs of :func:`simulate_numerics`; ``numerics``: an outcome already computed
    for this workload on a contract with the same numerics (the timing is recomputed)."""
    from accelsim.quant.recipe import apply_recipe, resolve_recipe

    contract = profile
    if runtime is not None:
        profile = runtime.apply(profile)
    recipe = resolve_recipe(workload.recipe if recipe is None else recipe, workload.source)
    if recipe == "auto":  # the search runs above the engine (accelsim.tune), which then runs its recipe here
        raise ValueError("recipe 'auto': search first (accelsim.tune.tune) and pass the recipe it chose")
    legal = apply_recipe(legalize(workload, profile), recipe)
    if numerics is not None:  # the numerics of the same workload, plan and numerics contract (a sweep's cache)
        outcome = numerics
    elif timing_only:
        outcome = _timing_only_numerics(legal, progress)
    else:
        outcome = simulate_numerics(legal, data or DataSource(workload), progress, diagnose)
    numerics, end_to_end = outcome.layers, outcome.end_to_end
    diagnosis, recalibration = outcome.diagnosis, outcome.recalibration
    rows = []
    locations: list[dict] = []
    clock = profile.clock_hz
    timed = legal.workload.layers  # the workload's layers, with what the recipe adds (a smoothing rescale)
    fusion = plan_fusion(timed, profile.fusion)
    timings = []
    for layer in timed:
        plan = legal.plans[layer.name]
        a_bits, w_bits = operand_bits(plan.activations.type_name), operand_bits(plan.weights.type_name)
        math = math_format(plan)
        unit = profile.at_format(math)  # the MAC rate of the layer's format, at the runtime's share for it
        t = layer_timing(layer, unit, a_bits, w_bits, fusion=fusion[layer.name], out_bits=output_bits(plan, a_bits))
        timings.append((layer.name, t))
        num = numerics.get(layer.name) or _float_row(layer.name)
        e = layer_energy(profile, op_energy(profile, a_bits, w_bits, math_format=math), macs=t.macs, outputs=t.outputs,
                         is_mac=layer.is_mac, psum_adds=t.psum_adds, level_bytes=t.level_bytes, op=layer.op,
                         latency_s=t.cycles / clock)
        energy_mac, energy_requant, energy_sram, energy_dram = e.mac_pj, e.requant_pj, e.sram_pj, e.dram_pj
        rows.append({
            "profile": profile.name, "layer": layer.name, "op": layer.op, "macs": t.macs,
            "weight_bytes": t.weight_bytes, "act_bytes": t.act_bytes, "cycles": t.cycles,
            "compute_cycles": t.compute_cycles, "stall_cycles": t.stall_cycles, "latency_s": t.cycles / clock,
            "utilization": t.macs / (profile.peak_macs_per_cycle * t.cycles),
            "dram_bytes": t.dram_bytes, "sram_bytes": t.sram_bytes,
            "energy_pj": e.total_pj, "energy_static_pj": e.static_pj,
            "energy_mac_pj": energy_mac, "energy_requant_pj": energy_requant, "energy_sram_pj": energy_sram,
            "energy_dram_pj": energy_dram, "arithmetic_intensity": t.macs / t.dram_bytes if t.dram_bytes else 0.0,
            "regime": t.regime, "bottleneck": t.bottleneck, "bottleneck_busy": t.bottleneck_busy,
            "overflow_events": num.overflow_events, "saturation_events": num.saturation_events,
            "sqnr_db": num.sqnr_db, "max_abs_error": num.max_abs_error,
            "sqnr_local_db": num.sqnr_local_db, "mean_error": num.mean_error, "cosine": num.cosine,
            "weight_type": plan.weights.type_name if layer.op in ("linear", "conv2d") else "",
            "activation_type": plan.activations.type_name, "ran_in_float": num.ran_in_float,
            "fast_path": num.fast_path, "k_chunk": profile.k_chunk(layer.gemm[2]) if layer.is_mac else 0,
            "roofline_regime": t.roofline_regime(profile.ridge_point),
            "bytes_by_level": ";".join(f"{name}={nbytes}" for name, nbytes in t.level_bytes),
            "dataflow_tiles": _tiles_text(t), "fused_into": fusion[layer.name].fused_into or "",
        })
        if num.events is not None and num.events.sum() > 0:
            grid = num.events
            for ch, chunk in sorted(zip(*grid.nonzero()), key=lambda ij: -grid[ij])[:5]:
                locations.append({"layer": layer.name, "channel": int(ch), "k_chunk": int(chunk),
                                  "events": int(grid[ch, chunk])})
    network_summary = None
    if network:  # the whole-network simulation (a sweep's rows, which read the per-layer sums, skip it)
        net = simulate_profile_network(timings, profile, inputs={layer.name: layer.inputs for layer in timed})
        spans = {name: (start / clock, end / clock) for name, start, end in net.spans}
        for row in rows:
            row["network_start_s"], row["network_end_s"] = spans[row["layer"]]
        network_summary = {"latency_s": net.cycles / clock, "isolated_latency_s": net.isolated_cycles / clock,
                           "prefetched_layers": list(net.prefetched), "dram_busy": net.dram_busy,
                           "concurrent_layers": list(net.concurrent),
                           "events": net.events}
    changes = [c for layer in workload.layers for c in numerics[layer.name].changes]
    notes = [c.text for c in changes] + [n for r in numerics.values() for n in r.notes] + list(legal.recipe_notes)
    frame = pd.DataFrame(rows, columns=ALL_COLUMNS)
    llm = None
    if workload.llm is not None:
        ctx = workload.llm
        llm = model_llm(contract if runtime is not None else profile, ctx.config, prompt=ctx.prompt,
                        decode_steps=ctx.decode_steps, runtime=runtime).summary()
        need = ctx.config.memory_bytes(1, ctx.prompt + ctx.decode_steps)
        llm.update(memory_bytes_needed=need, device_memory_bytes=profile.dram.bytes)
        if profile.dram.bytes is not None and need > profile.dram.bytes:  # loud: the whole-model figures are moot
            notes.insert(0, f"the whole model does not fit '{profile.name}': {need / 1e9:.1f} GB of weights and KV "
                            f"cache against {profile.dram.bytes / 1e9:.1f} GB of device memory; its llm figures "
                            f"assume it did")
    if legal.recipe is not None:
        notes.insert(0, f"recipe: {legal.recipe.text}")
    return RunResult(workload=workload, profile=profile, frame=frame, notes=notes, event_locations=locations,
                     network=network_summary, timing_only=timing_only, recipe=legal.recipe, outcome=outcome,
                     llm=llm, changes=changes, end_to_end=end_to_end, diagnosis=diagnosis,
                     recalibration=recalibration, runtime=runtime, contract=contract,
                     event_grids={name: r.events for name, r in numerics.items() if r.events is not None})


def _float_row(name: str):
    """The numerics of a layer a recipe adds to the timing (a smoothing rescale): float glue, nothing measured."""
    from accelsim.numerics.execute import LayerNumerics

    return LayerNumerics(layer=name, overflow_events=None, saturation_events=None, sqnr_db=None, sqnr_local_db=None,
                         max_abs_error=None, mean_error=None, cosine=None, fast_path=None, ran_in_float=True)


def ideal_bound(result: RunResult) -> dict:
    """``result``'s run again at the datasheet bound (runtime ``ideal``) with the same numerics: its latency (the
    layers' sum and the whole-network simulation's) and energy, beside which the runtime's prediction is read."""
    from accelsim.runtime import IDEAL

    contract = result.contract or result.profile
    bound = run(result.workload, contract, numerics=result.outcome, recipe=result.recipe,
                timing_only=result.timing_only, runtime=IDEAL)
    s = bound.summary()
    return {"runtime": "ideal", "latency_s": s["latency_s"], "energy_pj": s["energy_pj"],
            "network_latency_s": None if s["network"] is None else s["network"]["latency_s"],
            "llm": None if s["llm"] is None else {k: s["llm"][k] for k in ("ttft_s", "tpot_s", "tokens_per_s")}}


def baseline_format(profile: HardwareProfile) -> str | None:
    """The float format a contract's baseline runs in: fp16, else bf16, else None (no float math)."""
    for fmt in ("fp16", "bf16"):
        if fmt in profile.activation_types and fmt in profile.weight_types:
            return fmt
    return None


def float_baseline(result: RunResult, data: DataSource | None = None) -> dict:
    """What quantization buys on ``result``'s contract: the same workload with every operand in the contract's
    16-bit float format (fp16, else bf16), timed (and, for graph workloads, simulated) on the same contract.

    Returns {"format", "speedup" (baseline latency / quantized), "energy_ratio" (quantized energy / baseline),
    "accuracy": {"metric", "quantized", "baseline"}} (accuracies None in a timing-only run); the dict says why
    when the contract has no float math."""
    import dataclasses

    from accelsim.workload.layers import LayerQuant, QuantIntent

    profile, workload = result.profile, result.workload
    fmt = baseline_format(profile)
    if fmt is None:
        return {"format": None, "reason": f"profile '{profile.name}' has no fp16/bf16 math: no float baseline on it"}
    quant = LayerQuant(weights=QuantIntent(format=fmt), activations=QuantIntent(format=fmt))
    base_wl = dataclasses.replace(workload, recipe=None, layers=tuple(dataclasses.replace(layer, quant=quant)
                                                                      for layer in workload.layers))
    base = run(base_wl, profile, data, timing_only=result.timing_only)
    q, b = result.summary(), base.summary()
    if result.end_to_end:
        metric, quantized = "end-to-end " + "cosine", result.end_to_end["mean"]
        baseline = base.end_to_end["mean"] if base.end_to_end else None
    else:
        metric, quantized, baseline = "final SQNR (dB)", q["final_sqnr_db"], b["final_sqnr_db"]
    return {"format": fmt, "speedup": b["latency_s"] / q["latency_s"] if q["latency_s"] else None,
            "energy_ratio": q["energy_pj"] / b["energy_pj"] if b["energy_pj"] else None,
            "baseline_latency_s": b["latency_s"], "baseline_energy_pj": b["energy_pj"],
            "accuracy": {"metric": metric, "quantized": quantized, "baseline": baseline}}
