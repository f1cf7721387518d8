"""Self-contained interactive HTML report: one or several hardware contracts on one workload.

plotly.js is embedded once (the file renders with no network). Sections: summary cards; per-layer
latency and energy; a roofline per profile; overflow/saturation heatmaps; SQNR per layer and its
propagation; legalization; the contracts side by side; how the report was made.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from accelsim import __version__
from accelsim.hardware import HardwareProfile

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1e0;font-size:14px}
main{padding:12px 28px 40px;max-width:1500px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:18px;margin:2px 0 6px}p.explain{color:#4a5468;font-size:13.5px;margin:2px 0 10px;max-width:1100px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #d6dae2;border-radius:8px;padding:10px 14px;
min-width:230px;flex:1;background:#fbfcfd}.card h3{margin:0 0 6px;font-size:15px}.card .big{font-size:20px;font-weight:600}
.card .row{font-size:13px;color:#39414f;margin:2px 0}.badge{display:inline-block;font-size:11px;padding:1px 6px;
border-radius:9px;background:#e3f1e6;color:#17612a;margin-left:4px}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{border-bottom:1px solid #e6e8ed;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f0f2f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.diff td{background:#fff7e0}.plot{min-height:380px}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:10px}
@media(max-width:1100px){.grid2{grid-template-columns:1fr}}footer{font-size:12.5px;color:#59627a}
code{background:#eef0f4;padding:1px 4px;border-radius:4px}
details{margin:6px 0}summary{cursor:pointer;font-size:14px;padding:4px 0}
"""

# records script errors and console.error calls so a headless browser test can assert there were none
_ERROR_HOOK = """<script>
window.__accelsimErrors=[];
function __accelsimRecord(m){window.__accelsimErrors.push(String(m));
document.documentElement.setAttribute('data-errors',String(window.__accelsimErrors.length));}
window.addEventListener('error',function(e){__accelsimRecord(e.message||e);});
window.addEventListener('unhandledrejection',function(e){__accelsimRecord(e.reason);});
(function(){var ce=console.error;console.error=function(){__accelsimRecord(Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments);};})();
</script>"""

# marks the document once every plot has drawn its SVG (read by tests/report/test_browser.py)
_RENDER_CHECK = """<script>
(function(){function check(){var divs=document.querySelectorAll('.plotly-graph-div');var drawn=0;
divs.forEach(function(d){if(d.querySelector('svg.main-svg'))drawn++;});
document.documentElement.setAttribute('data-plots',String(divs.length));
document.documentElement.setAttribute('data-plots-drawn',String(drawn));
if(drawn<divs.length)setTimeout(check,100);}
window.addEventListener('load',function(){setTimeout(check,50);});})();
</script>"""

_COLORS = ["#3366cc", "#dc7633", "#2e9e5b", "#a23fb5", "#b8860b", "#17becf"]


def _si(value: float, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"),
                           (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _esc(text) -> str:
    return html.escape(str(text))


class _Plots:
    def __init__(self):
        self.n = 0

    def html(self, fig, height: int = 420) -> str:
        self.n += 1
        fig.update_layout(height=height, margin=dict(l=60, r=20, t=50, b=60), template="plotly_white",
                          font=dict(size=12))
        return fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{self.n}",
                           default_height=f"{height}px", config={"displaylogo": False, "responsive": True})


def _accuracy(result) -> tuple[str, float | None]:
    if result.timing_only:
        return "accuracy", None
    e2e = result.end_to_end
    if e2e:
        return "embedding cosine", float(e2e["mean"])
    sqnr = result.frame["sqnr_db"].iloc[-1]
    return "final SQNR dB", float(sqnr)


def _cards(results) -> str:
    stats = []
    for r in results:
        s = r.summary()
        acc_name, acc = _accuracy(r)
        stats.append((r, s, acc_name, acc))
    best_lat = min(s["latency_s"] for _, s, _, _ in stats)
    best_energy = min(s["energy_pj"] for _, s, _, _ in stats)
    best_acc = max((acc for *_, acc in stats if acc is not None), default=None)
    cards = []
    for r, s, acc_name, acc in stats:
        badges = "".join(f"<span class='badge'>{b}</span>" for b, ok in (
            ("fastest", s["latency_s"] == best_lat), ("least energy", s["energy_pj"] == best_energy),
            ("most accurate", acc is not None and acc == best_acc)) if ok and len(results) > 1)
        llm = s.get("llm")
        llm_rows = ""
        if llm:
            llm_rows = (f"<div class='row'>whole model: prefill {_si(llm['prefill_s'], 's')}, "
                        f"{llm['decode_tokens_per_s']:.3g} tokens/s decode</div>")
        runtime_row = ""
        if s.get("runtime"):
            ideal = s.get("ideal") or {}
            bound = (f" · ideal bound {_si(ideal['latency_s'], 's')} ({s['latency_s'] / ideal['latency_s']:.2f}x)"
                     if ideal.get("latency_s") and s["runtime"] != "ideal" else " (the datasheet bound)")
            runtime_row = f"<div class='row'>runtime <b>{_esc(s['runtime'])}</b>{bound}</div>"
        cards.append(f"""<div class='card'><h3>{_esc(r.profile.name)}{badges}</h3>
<div class='big'>{_si(s['latency_s'], 's')} · {_si(s['energy_pj'] * 1e-12, 'J')}</div>{runtime_row}
<div class='row'>{acc_name}: <b>{"not simulated (--timing-only)" if acc is None else f"{acc:.4g}"}</b></div>
<div class='row'>utilization {100 * s['utilization']:.1f}% · {_si(s['macs'], 'MAC')}</div>
<div class='row'>{"numerics skipped" if r.timing_only else
                  f"overflow events {s['overflow_events']:,} · saturation events {s['saturation_events']:,}"}</div>
<div class='row'>legalization changes: {len(s['legalization'])}</div>{llm_rows}</div>""")
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _latency_energy(results, plots: _Plots) -> str:
    from plotly.subplots import make_subplots

    out = []
    for r in results:
        f = r.frame
        us = 1e6 / r.profile.clock_hz
        fig = make_subplots(rows=1, cols=2, subplot_titles=("latency per layer (µs)", "energy per layer (µJ)"))
        fig.add_bar(x=f["layer"], y=f["compute_cycles"].clip(upper=f["cycles"]) * us, name="compute", marker_color="#3366cc",
                    row=1, col=1)
        fig.add_bar(x=f["layer"], y=f["stall_cycles"] * us, name="stall (waiting for memory)",
                    marker_color="#e0a030", row=1, col=1)
        for col, name, color in (("energy_mac_pj", "MAC", "#2e9e5b"), ("energy_requant_pj", "requant / vector", "#8c6bb1"),
                                 ("energy_sram_pj", "on-chip SRAM", "#17becf"), ("energy_dram_pj", "DRAM", "#c0392b"),
                                 ("energy_static_pj", "static", "#7f7f7f")):
            fig.add_bar(x=f["layer"], y=f[col] * 1e-6, name=name, marker_color=color, row=1, col=2)
        fig.update_layout(barmode="stack", title=f"{r.profile.name}: where the time and the energy go")
        fig.update_yaxes(title_text="µs", row=1, col=1)
        fig.update_yaxes(title_text="µJ", row=1, col=2)
        fig.update_xaxes(tickangle=-45)
        out.append(plots.html(fig, 440))
    return "".join(out)


def _roofline(results, plots: _Plots) -> str:
    import plotly.graph_objects as go

    figs = []
    for r in results:
        p: HardwareProfile = r.profile
        f = r.frame[r.frame["macs"] > 0]
        fig = go.Figure()
        peak = p.peak_macs_per_s
        ridge = p.ridge_point
        xs = np.geomspace(max(0.05, ridge / 1e4), ridge * 100, 200)
        fig.add_scatter(x=xs, y=np.minimum(peak, xs * p.dram.bandwidth_Bps), mode="lines", name="roofline",
                        line=dict(color="#1d2330", width=2))
        # the ridge as a trace: layout shapes on log axes take log10 coordinates, traces take data
        fig.add_scatter(x=[ridge, ridge], y=[peak / 1e4, peak], mode="lines", name=f"ridge point {ridge:.3g} MAC/B",
                        line=dict(color="#888", dash="dot"))
        for regime, color in (("memory-bound", "#c0392b"), ("compute-bound", "#2e7d32")):
            sub = f[f["regime"] == regime]
            if len(sub):
                fig.add_scatter(x=sub["arithmetic_intensity"], y=sub["macs"] / sub["latency_s"], mode="markers",
                                name=regime, marker=dict(size=10, color=color), text=sub["layer"],
                                hovertemplate="%{text}<br>%{x:.3g} MAC/byte<br>%{y:.3g} MAC/s<extra></extra>")
        fig.update_layout(title=f"{p.name}: roofline (peak {_si(peak, 'MAC/s')}, DRAM {_si(p.dram.bandwidth_Bps, 'B/s')})")
        fig.update_xaxes(type="log", title_text="arithmetic intensity (MACs per DRAM byte)")
        fig.update_yaxes(type="log", title_text="achieved MAC/s")
        figs.append(plots.html(fig, 400))
    return "<div class='grid2'>" + "".join(figs) + "</div>"


def _heatmaps(results, plots: _Plots) -> str:
    import plotly.graph_objects as go

    figs = []
    for r in results:
        grids = {name: g for name, g in r.event_grids.items() if g is not None}
        layers = [n for n in r.frame["layer"] if n in grids]
        chunks = max((grids[n].shape[1] for n in layers), default=1)
        z = np.zeros((max(1, len(layers)), chunks))
        for i, n in enumerate(layers):
            by_chunk = grids[n].sum(axis=0)
            z[i, :by_chunk.size] = by_chunk
        total = int(z.sum())
        fig = go.Figure(go.Heatmap(z=z, x=list(range(chunks)), y=layers or ["(no integer layers)"],
                                   colorscale="YlOrRd", zmin=0, zmax=max(1.0, float(z.max())),
                                   colorbar=dict(title="events"),
                                   hovertemplate="%{y}<br>K-chunk %{x}<br>%{z} events<extra></extra>"))
        kind = "saturation" if "saturate" in (r.profile.accumulator.overflow,
                                              r.profile.accumulator.spill_overflow) else "overflow"
        fig.update_layout(title=f"{r.profile.name}: {kind} events " + (f"(total {total:,})" if total else "(none)"))
        fig.update_xaxes(title_text="K-chunk (reduction order: chunk 0 first)", dtick=1 if chunks <= 12 else None)
        fig.update_yaxes(title_text="layer", autorange="reversed")
        figs.append(plots.html(fig, max(300, 22 * len(layers) + 140)))
    return "<div class='grid2'>" + "".join(figs) + "</div>"


def _sqnr(results, plots: _Plots) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, r in enumerate(results):
        f = r.frame
        color = _COLORS[i % len(_COLORS)]
        y = pd.to_numeric(f["sqnr_db"], errors="coerce").replace([np.inf, -np.inf], np.nan)
        yl = pd.to_numeric(f["sqnr_local_db"], errors="coerce").replace([np.inf, -np.inf], np.nan)
        fig.add_scatter(x=f["layer"], y=y, mode="lines+markers", name=f"{r.profile.name}: end to end",
                        line=dict(color=color))
        fig.add_scatter(x=f["layer"], y=yl, mode="markers", name=f"{r.profile.name}: layer's own error",
                        marker=dict(color=color, symbol="x", size=8))
    fig.update_layout(title="accuracy per layer: SQNR against the float model (higher is better)")
    fig.update_xaxes(tickangle=-45, title_text="layer (execution order)")
    fig.update_yaxes(title_text="SQNR (dB)")
    return plots.html(fig, 460)


def _legalization(results) -> str:
    blocks = []
    for r in results:
        rows = []
        for c in r.changes:
            sq = (f"{c.sqnr_before_db:.1f} → {c.sqnr_after_db:.1f}" if c.sqnr_before_db is not None
                  and c.sqnr_after_db is not None else "")
            cost = f"{c.cost_db:+.1f}" if c.cost_db is not None else ""
            rows.append(f"<tr><td>{_esc(c.layer)}</td><td>{_esc(c.operand)}</td>"
                        f"<td>{_esc(c.before)} → {_esc(c.after)}</td><td>{_esc(c.reason)}</td>"
                        f"<td class='num'>{sq}</td><td class='num'>{cost}</td></tr>")
        if not rows:
            blocks.append(f"<p><b>{_esc(r.profile.name)}</b>: no changes, the workload runs as asked.</p>")
            continue
        costs = [c.cost_db for c in r.changes if c.cost_db is not None]
        kinds = ", ".join(sorted({f"{c.operand} {c.before} → {c.after}" for c in r.changes}))
        worst = f", worst {max(costs):+.1f} dB" if costs else ""
        blocks.append(f"<details{' open' if len(results) == 1 else ''}><summary><b>{_esc(r.profile.name)}</b>: "
                      f"{len(rows)} changes{worst} ({_esc(kinds)})</summary><table><tr><th>layer</th><th>operand</th>"
                      "<th>change</th><th>why</th><th>layer SQNR dB before → after</th><th>cost dB</th></tr>"
                      + "".join(rows) + "</table></details>")
    return "".join(blocks)


def contract_rows(p: HardwareProfile) -> dict[str, str]:
    acc = p.accumulator
    rows = {
        "clock": _si(p.clock_hz, "Hz"),
        "compute unit": f"{p.array.kind} {p.array.rows} x {p.array.cols} x {p.array.count}",
        "dataflow": p.array.dataflow,
        "peak": f"{_si(p.peak_ops_per_s, 'OPS')} ({_si(p.peak_macs_per_s, 'MAC/s')})",
        "ridge point": f"{p.ridge_point:.1f} MAC/byte",
        "weight types": ", ".join(p.weight_types),
        "activation types": ", ".join(p.activation_types),
        "zero points": f"weights {p.weight_zero_point}, activations {p.activation_zero_point}",
        "accumulator": f"{acc.bits}-bit {acc.overflow}",
        "K-chunk / spill": f"{acc.chunk or 'whole K'} / {acc.spill_bits}-bit {acc.spill_overflow}",
        "requantization": f"{p.requant.scale}, rounding {p.requant.rounding}"
                          + "".join(f", {op}: {r}" for op, r in p.requant.rounding_by_op),
        "scale granularity": ", ".join(p.requant.granularity),
        "technology node": f"{p.energy.node_nm:g} nm",
    }
    for i, level in enumerate(p.memory):
        size = _si(level.bytes, "B") if level.bytes else "unbounded"
        rows[f"memory level {i}"] = (f"{level.name}: {size}, {_si(level.bandwidth_Bps, 'B/s')}, "
                                     f"{level.energy_pj_per_byte:g} pJ/B")
    return rows


def _contracts(results) -> str:
    tables = [contract_rows(r.profile) for r in results]
    keys = list(dict.fromkeys(k for t in tables for k in t))
    head = "".join(f"<th>{_esc(r.profile.name)}</th>" for r in results)
    body = []
    for k in keys:
        vals = [t.get(k, "—") for t in tables]
        cls = " class='diff'" if len(set(vals)) > 1 else ""
        body.append(f"<tr{cls}><td><b>{_esc(k)}</b></td>" + "".join(f"<td>{_esc(v)}</td>" for v in vals) + "</tr>")
    return f"<table><tr><th>field</th>{head}</tr>{''.join(body)}</table>"


def _end_to_end(results) -> str:
    rows = [r for r in results if r.end_to_end]
    if not rows:
        return ""
    body = "".join(f"<tr><td>{_esc(r.profile.name)}</td><td class='num'>{r.end_to_end['mean']:.4f}</td>"
                   f"<td class='num'>{r.end_to_end['min']:.4f}</td></tr>" for r in rows)
    e = rows[0].end_to_end
    return (f"<section><h2>End-to-end accuracy</h2><p class='explain'>{_esc(e['metric'])}, over "
            f"{e['sentences']} evaluation sentences (calibrated on {e['calibration_sentences']}). In float: "
            f"{_esc(e['ran_in_float'])}.</p><table><tr><th>profile</th><th>mean</th><th>min</th></tr>{body}"
            f"</table></section>")


def _baseline(results) -> str:
    """What quantization buys: each contract against its own float baseline (compare)."""
    rows = [r for r in results if r.baseline is not None]
    if not rows:
        return ""
    body = []
    for r in rows:
        b = r.baseline
        if not b.get("format"):
            body.append(f"<tr><td>{_esc(r.profile.name)}</td><td colspan='4'>{_esc(b.get('reason', ''))}</td></tr>")
            continue
        acc = b["accuracy"]
        base = "float (not simulated)" if acc["baseline"] is None else f"{acc['baseline']:.4g}"
        quant = "not simulated" if acc["quantized"] is None else f"{acc['quantized']:.4g}"
        body.append(f"<tr><td>{_esc(r.profile.name)}</td><td>{_esc(b['format'])}</td><td class='num'>{b['speedup']:.2f}x"
                    f"</td><td class='num'>{b['energy_ratio']:.2f}x</td><td>{_esc(acc['metric'])}: {quant} vs {base}"
                    f"</td></tr>")
    return ("<section><h2>What quantization buys</h2><p class='explain'>Each contract's run against the same "
            "workload with every operand in the contract's 16-bit float format (fp16, else bf16) on the same "
            "hardware: speedup (baseline latency / quantized), energy (quantized / baseline) and accuracy.</p>"
            "<table><tr><th>profile</th><th>baseline</th><th>speedup</th><th>energy</th><th>accuracy</th></tr>"
            + "".join(body) + "</table></section>")


def _diagnosis(results) -> str:
    blocks = []
    for r in results:
        if not r.diagnosis:
            continue
        rows = []
        for d in r.diagnosis[:25]:
            out = (f"{d['outlier_channels']} (e.g. {', '.join(map(str, d['outlier_examples']))}; max/median "
                   f"{d['max_over_median']:.0f}x)" if d["outlier_channels"] else "none")
            rows.append(f"<tr><td>{_esc(d['layer'])}</td><td>{_esc(d['kind'])}</td><td class='num'>{d['sqnr_db']:.1f}</td>"
                        f"<td class='num'>{d['sqnr_local_db']:.1f}</td><td class='num'>{d['input_sqnr_db']:.1f}</td>"
                        f"<td class='num'>{100 * d['clipping_share']:.0f}%</td><td class='num'>{100 * d['rounding_share']:.0f}%</td>"
                        f"<td>{out}</td></tr>")
        recal = ""
        if r.recalibration:
            recal = ("<p>End-to-end metric when the model is re-run with accelsim's calibration of every integer "
                     "layer's activation ranges, without the Q/DQ on the float glue, or with per-channel weights: "
                     + ", ".join(f"<b>{_esc(k)}</b> {v:.4f}" for k, v in r.recalibration.items()) + ".</p>")
        blocks.append(f"<h3>{_esc(r.profile.name)}</h3>{recal}<table><tr><th>layer (worst first)</th><th>kind</th>"
                      "<th>SQNR dB (end to end)</th><th>own error dB</th><th>input quantization SQNR dB</th>"
                      "<th>clipping share</th><th>rounding share</th><th>outlier input channels</th></tr>"
                      + "".join(rows) + "</table>")
    if not blocks:
        return ""
    return ("<section><h2>Diagnosis: where the accuracy goes</h2><p class='explain'>Integer layers ranked by the "
            "SQNR of their output against the float model. For each, the error of quantizing its input splits into "
            "clipping (values beyond the quantization range) and rounding (the step size); outlier channels are input "
            "channels whose largest magnitude exceeds 8x the median channel's: they stretch a per-tensor range and "
            "coarsen every other channel's steps.</p>" + "".join(blocks) + "</section>")


def render_report(results, workload, command: str, title: str | None = None) -> str:
    """The report as one HTML string (plotly.js inlined)."""
    import plotly.offline

    plots = _Plots()
    names = ", ".join(r.profile.name for r in results)
    title = title or f"accelsim: {workload.name} on {names}"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    items = "item" if workload.sample == 1 else "items"
    sample_note = (f"Numerics ran bit-accurately on a sample of {workload.sample} {items} of the sampled inputs; "
                   "timing and energy use the full shapes.")
    sections = [
        f"<section><h2>Summary</h2><p class='explain'>Latency and energy of one pass of <b>{_esc(workload.name)}</b> "
        f"({_esc(workload.description)}) on each hardware contract, and how close its integer results stay to "
        f"the float model. {sample_note}</p>{_cards(results)}</section>",
        _end_to_end(results),
        _baseline(results),
        _diagnosis(results),
        "<section><h2>Per-layer latency and energy</h2><p class='explain'>Latency splits into cycles the MAC array "
        "computes and cycles it waits for operands (stalls). Energy splits into MAC operations, requantization / "
        "vector ops, on-chip SRAM traffic and DRAM traffic.</p>" + _latency_energy(results, plots) + "</section>",
        "<section><h2>Roofline</h2><p class='explain'>Each dot is a layer: its arithmetic intensity (MACs per byte "
        "moved to or from DRAM) against the MAC rate it achieved. Left of the ridge point a layer is limited by "
        "memory bandwidth (red), right of it by the MAC array (green); no layer can rise above the roof.</p>"
        + _roofline(results, plots) + "</section>",
        "<section><h2>Accumulator overflow and saturation</h2><p class='explain'>Where integer accumulation "
        "left the accumulator's range, by layer and by K-chunk (the reduction is split into chunks of the "
        "array's depth; each chunk's sum spills into a partial-sum register). Counted on the numerics sample.</p>"
        + _heatmaps(results, plots) + "</section>",
        "<section><h2>Accuracy through the network</h2><p class='explain'>Lines: SQNR of each layer's output "
        "against the float model when every layer consumes the previous layers' integer results (error "
        "propagates). Crosses: the error the layer adds on its own. 30 dB ≈ 3% RMS error.</p>"
        + _sqnr(results, plots) + "</section>",
        "<section><h2>Legalization</h2><p class='explain'>Where a contract cannot run the workload's "
        "quantization as asked, accelsim changes it and measures what the change costs on that layer (the "
        "layer's output SQNR before and after; changes of a layer apply one after another).</p>"
        + _legalization(results) + "</section>",
        "<section><h2>The hardware contracts</h2><p class='explain'>Rows that differ between the contracts are "
        "highlighted.</p>" + _contracts(results) + "</section>",
    ]
    footer = (f"<footer>Produced by <code>{_esc(command)}</code> · accelsim {__version__} · {date}. "
              f"Workload file: {_esc(workload.source or workload.name)}.</footer>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{_CSS}</style>{_ERROR_HOOK}<script>{plotly.offline.get_plotlyjs()}</script></head><body>"
            f"<header><h1>{_esc(title)}</h1><p>{_esc(date)} · accelsim {__version__}</p></header><main>"
            + "".join(sections) + footer + f"</main>{_RENDER_CHECK}</body></html>")
