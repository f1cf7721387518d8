"""One SmoothQuant / AWQ scale per input tensor: the smoothed linear layers that read the same tensor (q, k and v
of an attention block) share one s, computed on their weights side by side, so that one rescale of the tensor
serves them all and can fold into its producer (accelsim.quant.smoothing_plan). SmoothQuant (Xiao et al. 2023)
computes the q/k/v factor this way: max |W_k| over the concatenated output channels."""

from __future__ import annotations

import numpy as np

from accelsim.operands import FORMATS


def shared_scales(legal, view, calib: dict) -> dict:
    """{layer name: s (K,)} for every smoothed layer of ``legal`` (a LegalizedWorkload after its recipe), from the
    calibration activations ``calib`` ({tensor: array})."""
    from accelsim.graph.contract import ContractLayer, _format_values
    from accelsim.quant.smoothing import awq_scales, smoothquant_scales

    layers = {L.name: L for L in view.layers}
    out = {}
    for group in legal.smooth_groups:
        x = calib.get(group.tensor)
        if x is None:
            continue
        members = [layers[n] for n in group.layers]
        weights = [np.asarray(L.weight, dtype=np.float64) for L in members]
        joint = np.concatenate(weights, axis=1)
        recipe = legal.recipes[group.layers[0]]
        if recipe.smooth_alpha is not None:
            s = smoothquant_scales(x, joint, recipe.smooth_alpha)
        else:
            bounds = np.cumsum([0] + [w.shape[1] for w in weights])
            plans = [legal.plans[L.name] for L in members]

            def quantize(w, bounds=bounds, plans=plans):  # each layer's own weight quantizer on its columns
                parts = []
                for (a, b), plan in zip(zip(bounds[:-1], bounds[1:]), plans):
                    q = _format_values if plan.weights.type_name in FORMATS else ContractLayer._dequantized
                    parts.append(q(w[:, a:b], plan))
                return np.concatenate(parts, axis=1)

            s, _ = awq_scales(x, joint, quantize)
        for L in members:
            out[L.name] = s
    return out


__all__ = ["shared_scales"]
