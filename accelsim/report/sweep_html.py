"""``accelsim sweep --html``: the Pareto front (every pair of objectives, Pareto points highlighted) and each
axis's effect on each objective, one self-contained HTML file (plotly.js inlined; tested in headless Chromium)."""

from __future__ import annotations

import html
import itertools


def render_sweep_report(result, command: str) -> str:
    import plotly.graph_objects as go
    import plotly.offline
    from plotly.subplots import make_subplots

    from accelsim.report.html import _CSS, _ERROR_HOOK, _RENDER_CHECK

    f = result.frame[result.frame["valid"]]
    sw = result.sweep
    obj = list(sw.objectives)
    axes = [p for p, _ in sw.axes]
    pairs = list(itertools.combinations(obj, 2)) or [(obj[0], obj[0])]
    divs = []
    fig = make_subplots(rows=len(pairs), cols=1, subplot_titles=[f"{a} vs {b}" for a, b in pairs],
                        vertical_spacing=0.25 / max(1, len(pairs)))
    for i, (a, b) in enumerate(pairs, 1):
        for front, color, name in ((False, "#bbbbbb", "dominated"), (True, "#d62728", "Pareto")):
            g = f[f["pareto"] == front]
            text = ["<br>".join(f"{ax} = {row[ax]}" for ax in axes) for _, row in g.iterrows()]
            fig.add_trace(go.Scatter(x=g[a], y=g[b], mode="markers", marker=dict(color=color, size=8), name=name,
                                     text=text, showlegend=i == 1, legendgroup=name), row=i, col=1)
        fig.update_xaxes(title_text=a, row=i, col=1)
        fig.update_yaxes(title_text=b, row=i, col=1)
    fig.update_layout(height=380 * len(pairs), template="plotly_white")
    divs.append(fig.to_html(full_html=False, include_plotlyjs=False, div_id="sweep-pareto"))
    effects = make_subplots(rows=len(axes), cols=len(obj), subplot_titles=[f"{o} by {a}" for a in axes for o in obj])
    for r, a in enumerate(axes, 1):
        for c, o in enumerate(obj, 1):
            effects.add_trace(go.Box(x=f[a].astype(str), y=f[o], showlegend=False, marker_color="#1f77b4"), row=r,
                              col=c)
    effects.update_layout(height=300 * len(axes), template="plotly_white")
    divs.append(effects.to_html(full_html=False, include_plotlyjs=False, div_id="sweep-axes"))
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(result.counts.items()))
    title = f"accelsim sweep {sw.name}"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style>{_ERROR_HOOK}<script>{plotly.offline.get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><p><code>{html.escape(command)}</code></p>"
            f"<p>{len(result.frame)} points ({html.escape(counts)}); base {html.escape(sw.base_name)}; objectives "
            f"{html.escape(', '.join(obj))}</p><h2>Pareto front</h2>{divs[0]}<h2>Each axis's effect</h2>{divs[1]}"
            f"{_RENDER_CHECK}</body></html>")
