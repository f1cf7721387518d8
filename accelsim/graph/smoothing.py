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
    layers = {L.name: L for L in view.layers}
    out = {}
    for group in legal.smooth_groups:
        x = calib.get(group.tensor)
        if x is None:
            continue
        members = [layers[n] for n in group.layers]
        s = scales_for(x, [L.weight for L in members], [legal.plans[L.name] for L in members],
                       legal.recipes[group.layers[0]])
        for L in members:
            out[L.name] = s
    return out


def scales_for(x, weights: list, plans: list, recipe) -> np.ndarray | None:
    """SmoothQuant's or AWQ's s (K,) for calibration inputs ``x`` (.., K) of the linear layers with ``weights``
    (each (K, N_i)) and ``plans``, side by side (one layer: a list of one); None if ``recipe`` smooths nothing.
    AWQ scores each candidate with each layer's own weight quantizer on its columns."""
    from accelsim.graph.contract import ContractLayer, _format_values
    from accelsim.quant.smoothing import awq_scales, smoothquant_scales

    if recipe.smooth_alpha is None and not recipe.awq:
        return None
    ws = [np.asarray(w, dtype=np.float64) for w in weights]
    joint = np.concatenate(ws, axis=1)
    if recipe.smooth_alpha is not None:
        return smoothquant_scales(x, joint, recipe.smooth_alpha)
    bounds = np.cumsum([0] + [w.shape[1] for w in ws])

    def quantize(w):
        parts = []
        for (a, b), plan in zip(zip(bounds[:-1], bounds[1:]), plans):
            q = _format_values if plan.weights.type_name in FORMATS else ContractLayer._dequantized
            parts.append(q(w[:, a:b], plan))
        return np.concatenate(parts, axis=1)

    return awq_scales(x, joint, quantize)[0]


def corrected_bias(bias, weight: np.ndarray, w_q: np.ndarray, x_sample) -> np.ndarray:
    """Bias correction (Nagel et al. 2019): ``bias`` (None: zeros) minus the weight rounding's expected output
    shift E[x] (W_q - W) over the calibration inputs ``x_sample`` (.., K); W and W_q (K, N) float."""
    k, n = np.shape(weight)
    shift = np.asarray(x_sample, dtype=np.float64).reshape(-1, k).mean(axis=0) @ (
        np.asarray(w_q, dtype=np.float64) - np.asarray(weight, dtype=np.float64))
    base = np.zeros(n) if bias is None else np.asarray(bias, dtype=np.float64)
    return base - shift


__all__ = ["corrected_bias", "scales_for", "shared_scales"]
