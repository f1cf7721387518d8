"""``accelsim serve --html``: latency CDFs (TTFT, TPOT, end-to-end) and KV-cache occupancy over time, one line
per deployment, as one self-contained HTML file (plotly.js inlined)."""

from __future__ import annotations

import html

import numpy as np


def _cdf(values):
    v = np.sort(np.asarray(values, dtype=float))
    return v, (np.arange(1, v.size + 1) / v.size) if v.size else v


def render_serve_report(results: list, title: str, command: str) -> str:
    """``results``: (label, accelsim.serve.ServeResult) per deployment."""
    import plotly.graph_objects as go
    import plotly.offline
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=2, subplot_titles=("time to first token (CDF)", "time per output token (CDF)",
                                                        "request latency (CDF)", "KV cache in use over time"))
    for i, (label, r) in enumerate(results):
        color = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"][i % 6]
        done = [s for s in r.requests if s.done_s is not None]
        ttft = [s.first_token_s - s.req.arrival_s for s in r.requests if s.first_token_s is not None]
        tpot = [(s.done_s - s.first_token_s) / (s.req.output - 1) for s in done if s.req.output > 1]
        lat = [s.done_s - s.req.arrival_s for s in done]
        for (row, col), values in (((1, 1), ttft), ((1, 2), tpot), ((2, 1), lat)):
            x, y = _cdf(values)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label, legendgroup=label, line=dict(color=color),
                                     showlegend=(row, col) == (1, 1)), row=row, col=col)
        occ = np.asarray(r.occupancy, dtype=float)
        fig.add_trace(go.Scatter(x=occ[:, 0], y=occ[:, 1] / r.capacity_blocks, mode="lines", line_shape="hv",
                                 name=label, legendgroup=label, line=dict(color=color), showlegend=False), row=2, col=2)
    for row, col, xt in ((1, 1, "seconds"), (1, 2, "seconds"), (2, 1, "seconds"), (2, 2, "simulated time (s)")):
        fig.update_xaxes(title_text=xt, row=row, col=col)
    fig.update_yaxes(title_text="fraction of capacity", row=2, col=2, range=[0, 1.05])
    fig.update_layout(height=800, template="plotly_white", margin=dict(l=60, r=20, t=60, b=60))
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{s['requests_completed']:,} / {s['requests_arrived']:,}</td>"
        f"<td>{s['throughput_tokens_per_s']:,.0f}</td><td>{_fmt(s['ttft_p99_s'])}</td><td>{_fmt(s['tpot_p99_s'])}</td>"
        f"<td>{s['kv_cache_peak_fraction']:.0%}</td></tr>"
        for label, s in ((label, r.summary()) for label, r in results))
    from accelsim.report.html import _ERROR_HOOK, _RENDER_CHECK

    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id="serve-plots")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"{_ERROR_HOOK}<script>{plotly.offline.get_plotlyjs()}</script>"
            "<style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p><code>{html.escape(command)}</code></p>"
            "<table><tr><th>deployment</th><th>done / arrived</th><th>output tokens/s</th><th>TTFT p99</th>"
            f"<th>TPOT p99</th><th>KV peak</th></tr>{rows}</table>{body}{_RENDER_CHECK}</body></html>")


def _fmt(v) -> str:
    return "-" if v is None else f"{v * 1e3:.1f} ms"
