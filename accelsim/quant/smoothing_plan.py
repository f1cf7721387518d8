"""Where SmoothQuant's / AWQ's per-channel rescale of a linear layer's input runs, and what it costs.

x W = (x / s)(diag(s) W): the weight side is free (s is folded into the weight before quantization); the
activation side x / s is an operation on every activation element unless something already on x's path can
absorb it. It is free (folded) when

- x comes straight from a normalization with an affine output (LayerNormalization, SimplifiedLayerNormalization,
  RMSNormalization, SkipLayerNormalization, BatchNormalization): gamma and beta divided by s (SmoothQuant, Xiao et
  al. 2023, sec. 4: "the smoothing factor ... fused into the LayerNorm"), and
- every consumer of x is a linear layer smoothed with the same s: the smoothed consumers of one tensor share one s
  (computed jointly on their weights, as SmoothQuant does for q/k/v), and no other consumer (a residual Add of a
  post-LayerNorm model such as BERT) sees x.

Otherwise the rescale is an elementwise Mul by 1/s on x (rows x K elements on the vector unit), timed as its own
layer ``<first consumer>/smooth`` and said in the run's notes. A layer chain (YAML layers) has no float
epilogue for these steps (accelsim.graph.run refuses them there).
"""

from __future__ import annotations

from dataclasses import dataclass

#: producers whose affine output can absorb a per-channel scale
NORMALIZATIONS = ("LayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization",
                  "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "BatchNormalization")


@dataclass(frozen=True)
class SmoothGroup:
    """The smoothed linear layers that read one tensor, sharing one s."""

    tensor: str
    layers: tuple[str, ...]
    foldable: bool
    reason: str          # why the rescale is free, or why it is not

    @property
    def rescale_layer(self) -> str:
        """The name of the timed Mul when the rescale is not free."""
        return f"{self.layers[0]}/smooth"


def smoothing_groups(view, recipes: dict) -> list[SmoothGroup]:
    """The smoothed layers of graph ``view`` (accelsim.graph.view.GraphView) by input tensor, each group with
    whether its rescale folds into the producer (``recipes``: {layer: accelsim.quant.recipe.LayerRecipe})."""
    def smoothed(name: str) -> bool:
        r = recipes.get(name)
        return r is not None and (r.smooth_alpha is not None or r.awq)

    by_tensor: dict[str, list[str]] = {}
    for L in view.layers:
        if L.kind == "linear" and smoothed(L.name):
            by_tensor.setdefault(L.x_float, []).append(L.name)
    groups = []
    for tensor, names in by_tensor.items():
        kinds = {(recipes[n].smooth_alpha, recipes[n].awq) for n in names}
        producer = view.producer.get(tensor)
        consumers = view.consumers.get(tensor, [])
        smoothed_nodes = {id(L.node) for L in view.layers if L.name in names}
        others = [n.op_type for n in consumers if id(n) not in smoothed_nodes]
        if producer is None or producer.op_type not in NORMALIZATIONS:
            why = (f"its input comes from {producer.op_type if producer else 'the model input'}, which cannot absorb "
                   f"a per-channel scale")
        elif others:
            why = f"its input also feeds {', '.join(sorted(set(others)))}, which must see it unscaled"
        elif len(kinds) > 1:
            why = "the layers reading its input are smoothed differently (one s per tensor folds)"
        else:
            groups.append(SmoothGroup(tensor, tuple(names), True, f"folded into {producer.op_type} "
                                                                 f"'{producer.name}'"))
            continue
        groups.append(SmoothGroup(tensor, tuple(names), False, why))
    return groups


__all__ = ["NORMALIZATIONS", "SmoothGroup", "smoothing_groups"]
