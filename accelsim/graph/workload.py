"""Any graph as a workload: its layers at the timing shapes, its records, its quantization defaults.

The front door for graphs built in Python (accelsim.graph.ir) and for real models built from their weights:
``graph_workload(graph, calibration=..., evaluation=..., timing_feed=...)`` gives a Workload that
``accelsim.run`` takes like any other.
"""

from __future__ import annotations

from accelsim.graph.ir import Graph
from accelsim.graph.layers import graph_layers
from accelsim.graph.run import DEFAULT_METRIC, GraphSpec
from accelsim.graph.view import GraphView
from accelsim.workload.layers import LayerQuant, QuantIntent

#: a float graph's default intent: per-channel symmetric int8 weights, asymmetric int8 activations (what
#: onnxruntime.quantization.quantize_static does by default with per_channel=True)
DEFAULT_QUANT = LayerQuant(weights=QuantIntent(bits=8, symmetric=True, granularity="per_channel"),
                           activations=QuantIntent(bits=8, symmetric=False))


def graph_workload(graph: Graph | GraphView, *, calibration, evaluation=None, timing_feed: dict | None = None,
                   quant: LayerQuant | None = None, name: str | None = None, description: str = "",
                   source: str = "", metric: str | None = DEFAULT_METRIC, float_parts: str = "",
                   dims: tuple = (), synthetic: bool = False, extra: dict | None = None):
    """A Workload of ``graph``: ``calibration`` / ``evaluation`` records (feed dicts of the graph's inputs;
    evaluation defaults to the calibration records), ``timing_feed`` the inputs at the shapes the timing model
    uses (default: the first calibration record). ``extra``: further Workload fields (e.g. ``model``)."""
    from accelsim.workload.workload import DataSpec, TensorSpec, Workload

    view = graph if isinstance(graph, GraphView) else GraphView(graph)
    calibration = tuple(calibration)
    evaluation = tuple(evaluation) if evaluation is not None else calibration
    feed = timing_feed if timing_feed is not None else calibration[0]
    layers = tuple(graph_layers(view, feed, quant or DEFAULT_QUANT))
    spec = GraphSpec(view=view, dims=tuple(dims), calibration=calibration, evaluation=evaluation, synthetic=synthetic,
                     metric=metric, float_parts=float_parts)
    inputs = tuple(TensorSpec(name=k, shape=tuple(v.shape), sampled=True) for k, v in feed.items())
    return Workload(name=name or view.graph.name, description=description or view.graph.name, inputs=inputs,
                    layers=layers, data=DataSpec(), sample=len(evaluation), source=source or view.graph.source,
                    graph=spec, **(extra or {}))
