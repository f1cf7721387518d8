"""Terminal tables (rich): the per-layer summary and hardware-profile details."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.table import Table

from accelsim.energy import node_scale, op_energy
from accelsim.hardware import HardwareProfile


def _si(value: float, unit: str) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".strip()
    exp = int(math.floor(math.log10(abs(value)) / 3))
    exp = max(-4, min(4, exp))
    prefix = {-4: "p", -3: "n", -2: "µ", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T"}[exp]
    return f"{value / 10 ** (3 * exp):.3g} {prefix}{unit}"


def _db(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return "exact" if math.isinf(v) and v > 0 else f"{v:.1f}"


def _total(column: pd.Series):
    """Sum of a numerics column, or None when the numerics were skipped (--timing-only)."""
    return None if column.isna().all() else column.sum()


def _count(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else str(int(v))


def layer_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for col, justify in (("layer", "left"), ("op", "left"), ("MACs", "right"), ("latency", "right"),
                         ("util", "right"), ("energy", "right"), ("regime", "left"), ("ovf", "right"),
                         ("sat", "right"), ("SQNR dB", "right")):
        table.add_column(col, justify=justify)
    for row in frame.itertuples():
        table.add_row(row.layer, row.op + (" (float)" if row.ran_in_float else ""), _si(row.macs, ""),
                      _si(row.latency_s, "s"), f"{row.utilization:.0%}", _si(row.energy_pj * 1e-12, "J"),
                      row.regime, _count(row.overflow_events), _count(row.saturation_events), _db(row.sqnr_db))
    total_s = frame["latency_s"].sum()
    table.add_section()
    table.add_row("total", "", _si(frame["macs"].sum(), ""), _si(total_s, "s"), "",
                  _si(frame["energy_pj"].sum() * 1e-12, "J"), "", _count(_total(frame["overflow_events"])),
                  _count(_total(frame["saturation_events"])), _db(frame["sqnr_db"].iloc[-1]))
    return table


def runtime_line(result) -> str:
    """One line naming the runtime a run was timed under and the ideal bound beside its latency."""
    s = result.summary()
    rt = result.runtime
    if rt is None:
        return f"{result.profile.name}: no runtime profile (the contract as given)"
    sourced = "" if rt.sourced or rt.name == "ideal" else f" (not sourced for {rt.hardware}: its defaults)"
    latency = s["network"]["latency_s"] if s["network"] else s["latency_s"]
    ideal = s["ideal"]
    if not ideal or rt.name == "ideal":
        return f"{result.profile.name}: runtime {rt.name}{sourced}: latency {_si(latency, 's')} (the datasheet bound)"
    bound = ideal["network_latency_s"] if ideal["network_latency_s"] is not None else ideal["latency_s"]
    return (f"{result.profile.name}: runtime {rt.name}{sourced}: latency {_si(latency, 's')}; ideal bound (datasheet "
            f"rates, runtime ideal) {_si(bound, 's')} ({latency / bound:.2f}x)")


def legalization_table(changes, title: str = "legalization: what the contract changed, and what it cost") -> Table:
    """One row per change: layer, operand, before -> after, why, layer SQNR before -> after (dB). Unmeasured
    changes (--timing-only) have no SQNR columns: the title says so instead of leaving them empty."""
    measured = any(c.sqnr_before_db is not None and c.sqnr_after_db is not None for c in changes)
    if not measured:
        title = title.replace(", and what it cost", "") + " (cost not measured: numerics skipped)"
    t = Table(title=title, title_justify="left")
    columns = [("layer", "left"), ("operand", "left"), ("change", "left"), ("why", "left")]
    for col, justify in columns + ([("SQNR dB", "right"), ("cost dB", "right")] if measured else []):
        t.add_column(col, justify=justify)
    for c in changes:
        row = [c.layer, c.operand, f"{c.before} -> {c.after}", c.reason.split(";")[0]]
        if measured:
            row.append(f"{c.sqnr_before_db:.1f} -> {c.sqnr_after_db:.1f}" if c.sqnr_before_db is not None
                       and c.sqnr_after_db is not None else "")
            row.append(f"{c.cost_db:+.1f}" if c.cost_db is not None else "")
        t.add_row(*row)
    return t


def diagnosis_table(result) -> Table | None:
    """--diagnose: where the accuracy goes, layer by layer (worst first), and the end-to-end metric under
    accelsim's calibration methods and the other variants re-run (None when there is nothing to show)."""
    if not result.diagnosis:
        return None
    recal = result.recalibration or {}
    caption = ("end to end when re-run: " + ", ".join(f"{k} {v:.5f}" for k, v in recal.items())) if recal else None
    t = Table(title=f"{result.profile.name}: where the accuracy goes (--diagnose)", title_justify="left",
              caption=caption, caption_justify="left")
    for col in ("layer (worst first)", "kind", "SQNR dB", "own error dB", "input SQNR dB", "clipping", "rounding",
                "outlier input channels"):
        t.add_column(col, justify="left" if col in ("layer (worst first)", "kind", "outlier input channels")
                     else "right")
    for d in result.diagnosis[:25]:
        out = (f"{d['outlier_channels']} (max/median {d['max_over_median']:.0f}x)" if d["outlier_channels"]
               else "none")
        t.add_row(d["layer"], d["kind"], _db(d["sqnr_db"]), _db(d["sqnr_local_db"]), _db(d["input_sqnr_db"]),
                  f"{d['clipping_share']:.0%}", f"{d['rounding_share']:.0%}", out)
    return t


def print_run(console: Console, frame: pd.DataFrame, profile_name: str, workload_name: str, notes: list[str],
              sample: int, llm: dict | None = None, changes=None, end_to_end: dict | None = None,
              network: dict | None = None) -> None:
    numerics = f"numerics on a sample of {sample}" if sample is not None else "numerics skipped (--timing-only)"
    console.print(layer_table(frame, f"{workload_name} on {profile_name}  ({numerics}; timing on full shapes)"))
    if network:
        console.print(f"[bold]whole network[/bold] (one simulation: next-layer weight prefetch, shared DRAM): "
                      f"{_si(network['latency_s'], 's')} against {_si(network['isolated_latency_s'], 's')} for the "
                      f"layers alone; {len(network['prefetched_layers'])} layers' weights prefetched; DRAM busy "
                      f"{network['dram_busy']:.0%}")
    if end_to_end:
        console.print(f"[bold]end to end[/bold]: {end_to_end['metric']}: mean {end_to_end['mean']:.4f}, "
                      f"min {end_to_end['min']:.4f} over {end_to_end['sentences']} sentences "
                      f"(calibrated on {end_to_end['calibration_sentences']}); float: {end_to_end['ran_in_float'] or 'nothing'}")
    if llm:
        console.print(f"[bold]whole model[/bold] ({llm['model']}): prefill of {llm['prompt_tokens']} tokens "
                      f"{llm['prefill_s'] * 1e3:.3g} ms ({llm['prefill_projection_regime']} projections), "
                      f"{llm['decode_steps']} decode steps {llm['decode_s'] * 1e3:.3g} ms = "
                      f"{llm['decode_tokens_per_s']:.3g} tokens/s ({llm['decode_projection_regime']}); "
                      f"energy {llm['prefill_energy_j']:.3g} J + {llm['decode_energy_j']:.3g} J")
    if changes:
        console.print(legalization_table(changes))
    other = [n for n in notes if not changes or n not in {c.text for c in changes}]
    if other:
        console.print("[bold]notes[/bold]")
        for note in other:
            console.print(f"  - {note}", markup=False)


def _unit_text(p: HardwareProfile) -> str:
    a = p.array
    if a.kind == "simd_dot":
        return (f"simd_dot: {a.cols} lanes (N) x {a.rows}-deep dot (K) per cycle, {a.count} core(s), register tile "
                f"{a.register_tile}")
    if a.kind == "matrix":
        return (f"matrix: {a.count} MMA units ({a.rows} K x {a.cols} N per cycle), {a.units_per_core} per core "
                f"({a.cores} cores), register tile {a.register_tile}" + (f", clusters of {a.cluster}" if a.cluster > 1 else ""))
    return f"systolic: {a.rows} x {a.cols} x {a.count} ({a.dataflow})"


def profile_table(p: HardwareProfile) -> Table:
    t = Table(title=f"{p.name}: {p.description}", title_justify="left", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    acc = p.accumulator
    rows = [
        ("clock", _si(p.clock_hz, "Hz")),
        ("compute unit", _unit_text(p)),
        ("peak", f"{_si(p.peak_macs_per_s, 'MAC/s')} = {_si(p.peak_ops_per_s, 'OPS')} (2 ops per MAC)"),
        ("ridge point", f"{p.ridge_point:.1f} MAC/byte = {p.ridge_point_ops:.1f} ops/byte "
                        f"(vs {p.dram.name} at {_si(p.dram.bandwidth_Bps, 'B/s')})"),
        ("operands", f"weights {', '.join(p.weight_types)}; activations {', '.join(p.activation_types)}"),
        ("zero points", f"weights {p.weight_zero_point}; activations {p.activation_zero_point}"),
        ("accumulator", f"{acc.bits}-bit {acc.overflow}; K-chunk "
                        f"{acc.chunk if acc.chunk else 'whole reduction'}; spill {acc.spill_bits}-bit "
                        f"{acc.spill_overflow}"),
        ("requant", f"{p.requant.scale}, rounding {p.requant.rounding}"
                    + "".join(f", {op}: {r}" for op, r in p.requant.rounding_by_op)
                    + f"; {', '.join(p.requant.granularity)}"),
    ]
    if p.requant.outputs != ("integer",) or p.requant.dynamic_activations:
        rows.append(("epilogue", f"outputs {', '.join(p.requant.outputs)}; run-time activation scales "
                                 f"{', '.join(p.requant.dynamic_activations) or 'none'}"))
    for level in p.memory:
        size = _si(level.bytes, "B") if level.bytes else "unbounded"
        rows.append((f"memory {level.name}", f"{size}, {_si(level.bandwidth_Bps, 'B/s')}, "
                                             f"{level.energy_pj_per_byte:g} pJ/B, latency {level.latency_cycles} cycles"))
    from accelsim.energy.area import contract_area

    a = contract_area(p)
    rows.append(("area (estimate)", f"{a.total_mm2:.3g} mm² at {p.energy.node_nm:g} nm: MACs {a.mac_mm2:.3g}, float "
                                    f"units {a.float_mm2:.3g}, SRAM {a.sram_mm2:.3g} (docs/hardware-profiles.md)"))
    for k, v in rows:
        t.add_row(k, v)
    return t


def energy_table(p: HardwareProfile) -> Table:
    """The per-operation energies this profile uses (pJ), beside the Horowitz 45 nm reference."""
    from accelsim.energy import add_pj, mult_pj

    node = p.energy.node_nm
    overridden = set(p.energy.overrides)
    t = Table(title=f"energy per operation at {node:g} nm (Horowitz ISSCC 2014 45 nm, scaled: multiplier ~ "
                    f"bits^2, adder ~ bits, node^1.1; docs/timing.md)", title_justify="left")
    t.add_column("operation")
    t.add_column(f"pJ at {node:g} nm", justify="right")
    t.add_column("pJ at 45 nm", justify="right")
    t.add_column("source")
    widths = sorted({(a, w) for a in (4, 8, 16) for w in (4, 8)
                     if f"int{a}" in p.activation_types + ("int8",) and f"int{w}" in p.weight_types})
    for a, w in widths:
        e = op_energy(p, a, w)
        src = "override" if "mac_pj" in overridden else f"{a}x{w} multiply + {p.accumulator.bits}-bit add"
        t.add_row(f"MAC int{a} x int{w}", f"{e.mac_pj:.4g}", f"{mult_pj(a, w) + add_pj(p.accumulator.bits):.4g}", src)
    e = op_energy(p)
    t.add_row(f"partial-sum add ({p.accumulator.spill_bits}-bit)", f"{e.add_pj:.4g}",
              f"{add_pj(p.accumulator.spill_bits):.4g}", "override" if "add_pj" in overridden else "adder ~ bits")
    t.add_row(f"requantize ({p.requant.scale})", f"{e.requant_pj:.4g}", f"{e.requant_pj / node_scale(node):.4g}",
              "override" if "requant_pj" in overridden else {"float32": "fp32 multiply + add",
                                                             "fixed_point": "int32 multiply + 2 adds",
                                                             "power_of_two": "2 int32 adds (shift, zero point)"}[p.requant.scale])
    from accelsim.energy.horowitz import vector_op_pj

    for op in ("softmax", "gelu", "layernorm", "rmsnorm"):
        pj = vector_op_pj(op, e, node)
        t.add_row(f"{op} per element (fp32)", f"{pj:.4g}", f"{pj / node_scale(node):.4g}",
                  "fp32 mults/adds (exp, divide by polynomial / Newton), + dequantize/quantize")
    for level in p.memory:
        t.add_row(f"{level.name} per byte", f"{level.energy_pj_per_byte:.4g}", "", "profile (or by size)")
    t.add_row("static power", f"{p.energy.static_power_w:g} W", "", "profile: x latency")
    return t


def baseline_table(results, workload) -> Table:
    """What quantization buys: each contract's run against its own float (fp16 / bf16) baseline."""
    t = Table(title=f"{workload.name}: what quantization buys, against the float baseline on the same contract",
              title_justify="left")
    for col, justify in (("profile", "left"), ("baseline", "left"), ("speedup", "right"), ("energy", "right"),
                         ("accuracy: quantized vs baseline", "right")):
        t.add_column(col, justify=justify)
    for r in results:
        b = r.baseline or {}
        if not b.get("format"):
            t.add_row(r.profile.name, "none", "", "", b.get("reason", ""))
            continue
        acc = b["accuracy"]
        base_acc = "float (not simulated)" if acc["baseline"] is None else f"{acc['baseline']:.4g}"
        quant_acc = "not simulated" if acc["quantized"] is None else f"{acc['quantized']:.4g}"
        t.add_row(r.profile.name, b["format"], f"{b['speedup']:.2f}x", f"{b['energy_ratio']:.2f}x",
                  f"{acc['metric']}: {quant_acc} vs {base_acc}")
    return t


def comparison_table(results, workload) -> Table:
    """Profiles side by side, each metric ranked (1 = best): latency, energy, accuracy."""
    rows = []
    for r in results:
        s = r.summary()
        if r.timing_only:   # no numerics: no accuracy or events to rank
            acc = None
        elif r.end_to_end:
            acc = float(r.end_to_end["mean"])
        else:
            acc = float(r.frame["sqnr_db"].iloc[-1])
        cost = max((c.cost_db for c in r.changes if c.cost_db is not None), default=0.0)
        events = None if r.timing_only else s["overflow_events"] + s["saturation_events"]
        rows.append((r.profile.name, s["latency_s"], s["energy_pj"], acc, s["utilization"], events, len(r.changes),
                     cost))
    acc_label = "embedding cosine" if any(r.end_to_end for r in results) else "final SQNR dB"

    def ranks(values, higher_is_better=False):
        order = sorted(range(len(values)), key=lambda i: -values[i] if higher_is_better else values[i])
        out = [0] * len(values)
        for rank, i in enumerate(order, 1):
            out[i] = rank
        return out

    r_lat = ranks([x[1] for x in rows])
    r_en = ranks([x[2] for x in rows])
    r_acc = ranks([-math.inf if x[3] is None else x[3] for x in rows], higher_is_better=True)
    recipes = any(r.recipe is not None for r in results)
    searched = any(getattr(r, "tuned", None) is not None for r in results)
    title = f"{workload.name}: contracts ranked (1 = best)"
    if searched:
        title += ("; each contract with its best legal recipe (accelsim tune, searched on the calibration records), "
                  "the naive recipe's accuracy beside it")
    t = Table(title=title, title_justify="left")
    columns = [("profile", "left"), ("latency", "right"), ("energy", "right"), (acc_label, "right")]
    if searched:
        columns.append(("naive recipe", "right"))
    if recipes:
        columns.append(("recipe", "left"))
    columns += [("util", "right"), ("ovf+sat events", "right"), ("legalization", "right")]
    for col, justify in columns:
        t.add_column(col, justify=justify)
    for i, (name, lat, en, acc, util, events, n_changes, cost) in enumerate(rows):
        r = results[i]
        extra = []
        if searched:  # the naive recipe on the same metric (the run's mean; the search's figure is the min)
            tuned = getattr(r, "tuned", None)
            extra.append(f"{tuned.evaluation['naive_mean']:.4g}" if tuned is not None else "-")
        if recipes:
            extra.append(r.recipe.text if r.recipe is not None else "naive")
        t.add_row(name, f"{_si(lat, 's')} (#{r_lat[i]})", f"{_si(en * 1e-12, 'J')} (#{r_en[i]})",
                  "- (--timing-only)" if acc is None else f"{acc:.4g} (#{r_acc[i]})", *extra, f"{100 * util:.0f}%",
                  "-" if events is None else f"{events:,}",
                  f"{n_changes} changes, worst {cost:+.1f} dB" if n_changes else "none")
    return t


def tune_tables(result) -> list[Table]:
    """``accelsim tune``'s answer: the Pareto front (accuracy vs latency and energy), and the chosen recipe on the
    evaluation records with each step's gain (the accuracy lost when that step alone is removed)."""
    front = Table(title=f"{result.profile}: Pareto front of {len(result.trials)} recipes (tuning records: "
                        f"{result.metric})", title_justify="left", header_style="bold")
    for col in ("recipe", "accuracy", "latency", "energy"):
        front.add_column(col, justify="left" if col == "recipe" else "right")
    for t in sorted(result.pareto, key=lambda t: -t.accuracy):
        mark = " (chosen)" if t.recipe.text == result.best.recipe.text else ""
        front.add_row(t.recipe.text + mark, f"{t.accuracy:.4f}", _si(t.latency_s, "s"), _si(t.energy_pj * 1e-12, "J"))
    naive, tuned = result.evaluation["naive"], result.evaluation["tuned"]
    steps = Table(title=f"chosen recipe on the evaluation records: {naive:.4f} naive -> {tuned:.4f} tuned; "
                        f"latency {_si(result.naive.latency_s, 's')} -> {_si(result.best.latency_s, 's')}",
                  title_justify="left", header_style="bold")
    for col in ("step", "accuracy without it", "its gain"):
        steps.add_column(col, justify="left" if col == "step" else "right")
    for step, without in result.ablation:
        steps.add_row(step, f"{without:.4f}", f"{tuned - without:+.4f}")
    tables = [front, steps]
    if result.qdq:  # a QDQ model: every Q/DQ change measured alone, most useful first
        q = Table(title="Q/DQ changes measured alone (tuning records): remove a layer's output Q (float epilogue) or "
                        "a glue Q/DQ (that glue in float)", title_justify="left", header_style="bold")
        for col in ("change", "node / layer", "accuracy", "gain", "extra latency", "extra bytes"):
            q.add_column(col, justify="left" if col in ("change", "node / layer") else "right")
        for c in sorted(result.qdq, key=lambda c: -(c.gain if c.legal else -1e9)):
            if not c.legal:
                q.add_row(c.kind, c.target, "-", "-", "-", c.why)
                continue
            q.add_row(c.kind, c.target, f"{c.accuracy:.4f}", f"{c.gain:+.4f}", _si(c.extra_latency_s, "s"),
                      f"{c.extra_bytes:,}")
        tables.append(q)
    return tables


def serve_table(summaries: list[dict], args) -> Table:
    """``accelsim serve``: one row per deployment (weights / KV precision) at the same traffic."""
    first = summaries[0]
    traffic = (f"{args.rate:g} req/s Poisson for {args.duration:g} s" if args.rate else f"trace {args.trace}")
    t = Table(title=f"{first['model']} on {first['profile']} x{first['tp']} under runtime {first['runtime']}: {traffic}, "
                    f"{first['batch_policy']} batching ({first['prefill']} prefill), max batch {first['max_batch']}",
              title_justify="left", header_style="bold")
    cols = ["weights / KV", "KV capacity", "done / arrived", "tokens/s", "TTFT p50 / p99", "TPOT p50 / p99",
            "queueing p99", "KV peak", "energy/token"]
    if any("max_rate" in s for s in summaries):
        cols.append("max rate at p99 TTFT")
    for c in cols:
        t.add_column(c, justify="left" if c == "weights / KV" else "right")

    def ms(v):
        return "-" if v is None else _si(v, "s")
    for s in summaries:
        row = [f"{s['weights']} / {s['kv_cache']}", f"{s['kv_capacity_tokens']:,} tok",
               f"{s['requests_completed']:,} / {s['requests_arrived']:,}", f"{s['throughput_tokens_per_s']:,.0f}",
               f"{ms(s['ttft_p50_s'])} / {ms(s['ttft_p99_s'])}", f"{ms(s['tpot_p50_s'])} / {ms(s['tpot_p99_s'])}",
               ms(s["queueing_delay_p99_s"]), f"{s['kv_cache_peak_fraction']:.0%}",
               "-" if s["energy_per_token_j"] is None else _si(s["energy_per_token_j"], "J")]
        if "max_rate" in s:
            m = s["max_rate"]
            row.append(f"{m['rate']:.3g} req/s (<= {m['slo_ttft_s']:g} s)" + ("" if m.get("bounded", True)
                                                                               else ", search unbounded"))
        t.add_row(*row)
        if "ideal" in s:
            b = s["ideal"]
            t.add_row("  ideal (bound)", "", "", f"{b['throughput_tokens_per_s']:,.0f}",
                      f"{ms(b['ttft_p50_s'])} / {ms(b['ttft_p99_s'])}", f"{ms(b['tpot_p50_s'])} / {ms(b['tpot_p99_s'])}",
                      "", "", "", *([""] if "max_rate" in s else []), style="dim")
    return t


def sweep_table(result, limit: int = 15) -> Table:
    """``accelsim sweep``: the Pareto points (first objective ascending or descending as it is ranked)."""
    from accelsim.sweep.spec import OBJECTIVES

    f = result.frame
    sw = result.sweep
    axes = [p for p, _ in sw.axes]
    obj = list(sw.objectives)
    front = f[f["pareto"]].sort_values(obj[0], ascending=not OBJECTIVES[obj[0]])
    t = Table(title=f"sweep {sw.name}: {int(f['pareto'].sum())} Pareto points of {int(f['valid'].sum())} valid "
                    f"({', '.join(o + (' max' if OBJECTIVES[o] else ' min') for o in obj)})",
              title_justify="left", header_style="bold")
    for c in ["point", *(["workload"] if len(sw.workloads) > 1 else []), *axes, *obj]:
        t.add_column(c, justify="right")
    for _, r in front.head(limit).iterrows():
        cells = [str(r["point"]), *([str(r["workload"])] if len(sw.workloads) > 1 else [])]
        cells += [f"{r[a]:g}" if isinstance(r[a], float) else str(r[a]) for a in axes]
        cells += [f"{r[o]:.4g}" if r[o] is not None and r[o] == r[o] else "-" for o in obj]
        t.add_row(*cells)
    return t
