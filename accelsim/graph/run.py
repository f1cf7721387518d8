"""Numerics of a graph workload under one contract (the one numerics path for ONNX models and real models),
and the per-layer diagnosis.

1. the float version (or a given float reference model) runs on the calibration records: every
   integer layer's input and output are recorded (calibration data for float models and for
   power-of-two exponents; legalization costs are measured on them);
2. each evaluation record runs through the float version and through the contract (integer layers
   bit-accurate, Q/DQ elsewhere per the ONNX spec, float glue), and every layer's output is compared;
3. diagnosis per integer layer: its input's quantization error split into clipping and rounding,
   outlier channels, and the end-to-end metric when accelsim's calibration methods replace the ranges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from accelsim.errors import InputError
from accelsim.graph.contract import ContractLayer, FloatContractLayer, _real_range
from accelsim.graph.execute import run_graph
from accelsim.graph.integer_ops import ConvIntegerNode, MatMulIntegerNode
from accelsim.graph.layer_chain import ChainLayer, calibrate_chain, quantize_inputs, split_operands
from accelsim.graph.layers import executed_geometry
from accelsim.numerics.cost import measure_changes
from accelsim.numerics.execute import LayerNumerics
from accelsim.numerics.metrics import ErrorAccumulator
from accelsim.operands import FORMATS
from accelsim.ops import dequantize_linear, quantize_linear
from accelsim.quant.legalize import LegalizedWorkload

#: the end-to-end metric of a graph whose output is a hidden state or logits
DEFAULT_METRIC = "cosine similarity of the model output to float (mean-pooled over tokens for encoders)"


@dataclass(frozen=True)
class GraphSpec:
    """The graph behind a workload and the data it runs on.

    ``view``: the graph with its integer layers (accelsim.graph.view.GraphView); ``reference``: a separate
    float model to compare against (None: the graph's own float version); records are feed dicts of the
    graph's inputs; ``float_parts``: what the model keeps in float by its own choice (stated in results)."""

    view: object
    dims: tuple[tuple[str, int], ...]
    calibration: tuple
    evaluation: tuple
    reference: object | None = None
    reference_path: str | None = None
    synthetic: bool = True
    warnings: tuple[str, ...] = ()   # about the data (arrays that are not model inputs), printed by the CLI
    metric: str | None = DEFAULT_METRIC   # None: no end-to-end metric
    float_parts: str = ""


def _key(node) -> str:
    return node.key


def _pooled(y: np.ndarray) -> np.ndarray:
    """Encoder outputs (batch, tokens, hidden): mean over tokens; anything else flattened."""
    y = np.asarray(y, dtype=np.float64)
    return y.mean(axis=-2).reshape(-1) if y.ndim == 3 else y.reshape(-1)


def _cos(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def _calibrate(g, ref_g, feeds, wanted: set | None = None) -> dict[str, np.ndarray]:
    """Float values of the tensors calibration needs (default: the integer layers' inputs and outputs) over the
    records, concatenated."""
    if wanted is None:
        wanted = set()
        for L in g.layers:
            wanted.update(t for t in (L.x_float, L.b_float, L.y_float) if t)
    got: dict[str, list] = {}

    def tap(name, value):
        if name in wanted:
            got.setdefault(name, []).append(np.asarray(value, dtype=np.float64))
    for feed in feeds:
        for k, v in feed.items():
            tap(k, v)
        run_graph(ref_g, feed, tap=tap)
    # one record keeps its shape; several are concatenated along their last axis's rows
    return {k: (np.concatenate([v.reshape(-1, v.shape[-1]) for v in vs]) if len(vs) > 1 and vs[0].ndim >= 2 and
                len({v.shape[-1] for v in vs}) == 1 else vs[0]) for k, vs in got.items()}


def _first_inputs(g, ref_g, feed) -> dict[str, np.ndarray]:
    out = {}
    names = {t for L in g.layers for t in (L.x_float, L.b_float) if t}
    out.update({k: np.asarray(v, dtype=np.float64) for k, v in feed.items() if k in names})
    run_graph(ref_g, feed, tap=lambda n, v: out.__setitem__(n, np.asarray(v, dtype=np.float64)) if n in names else None)
    return out


def run_graph_numerics(legal: LegalizedWorkload, recalibrate: str | None = None, diagnose: bool = True,
                       float_glue: bool = False, per_channel_weights: bool = False, *, spec: GraphSpec | None = None,
                       progress=None, metric_only: bool = False, cache: dict | None = None):
    """(results per layer name, end-to-end metric, diagnosis rows) for ``legal.profile``.

    Diagnosis variants: ``recalibrate`` (accelsim's calibration method for every integer layer's
    activation ranges), ``float_glue`` (Q/DQ outside the integer layers removed: what quantizing the
    glue costs), ``per_channel_weights`` (per-tensor weights re-quantized per channel, if the contract can).
    ``metric_only``: the end-to-end metric (and the last layer's error) without the per-layer errors or the
    legalization costs (a recipe search's inner loop); ``cache``: a dict kept across calls on the same ``spec``
    that holds its calibration tensors and the float model's outputs per record.
    """
    wl = legal.workload
    spec = spec or wl.graph
    g = spec.view
    ref_g = spec.reference or g
    profile = legal.profile
    if g.is_qdq and not profile.qdq_s8_to_u8:  # ONNX Runtime's x86 QDQ rewrite (HardwareProfile.qdq_s8_to_u8)
        profile = dataclasses.replace(profile, qdq_s8_to_u8=True)
    chain = g.graph.layer_chain
    # the layers whose plans a diagnosis variant changes: the integer layers, or every layer of a chain
    planned = [layer.name for layer in wl.layers] if chain else [L.name for L in g.layers]
    kinds = {layer.name: layer.op for layer in wl.layers} if chain else {L.name: L.kind for L in g.layers}
    # calibration and legalization costs use the model's own graph (its float version): its tensor names
    cache = {} if cache is None else cache
    if "calib" not in cache:
        cache["calib"] = _calibrate(g, g, spec.calibration,
                                    wanted=set(g.producer) | {i.name for i in g.inputs} if chain else None)
        cache["first"] = {} if chain else _first_inputs(g, g, spec.calibration[0])
    calib, first = cache["calib"], cache["first"]
    layers_by_name = {layer.name: layer for layer in wl.layers}
    plans = dict(legal.plans)
    qdq = g.is_qdq and recalibrate is None
    if recalibrate is not None:  # accelsim's calibration replaces the model's ranges (diagnosis)
        for name in planned:
            p = plans[name]
            act = dataclasses.replace(p.activations, calibration=recalibrate)
            plans[name] = dataclasses.replace(p, activations=act)
    if per_channel_weights and "per_channel" in profile.requant.granularity:
        for name in planned:
            p = plans[name]
            if kinds[name] in ("linear", "conv2d") and p.weights.granularity == "per_tensor":
                plans[name] = dataclasses.replace(p, weights=dataclasses.replace(p.weights, granularity="per_channel"))
    contract: dict = {}
    overrides: dict = {}
    start_codes = None
    if chain and any(r.scaling != "static" or r.output != "integer" or r.smooth_alpha is not None or r.awq or
                     r.rounding != "nearest" or r.bias_correction for r in legal.recipes.values()):
        raise InputError("recipe steps other than calibration and mixed_precision need a graph workload (an ONNX "
                         "model or a model section): a layer workload's integer chain has no float epilogue",
                         field="quant.recipe")
    if chain:  # accelsim layers back to back, integer tensors between them (accelsim.graph.layer_chain)
        params = calibrate_chain(g, plans, calib, profile.float_conversion)
        for node in g.nodes:
            contract[node.key] = ChainLayer(node, plans[node.key], profile, params, progress=progress)

        def start_codes(feed):
            return quantize_inputs(g, feed, params)
    else:
        from accelsim.graph.smoothing import shared_scales

        smooth = shared_scales(legal, g, calib)
        lowered = g.graph.lowered_ops
        for L in g.layers:
            plan = plans[L.name]
            if lowered.get(L.node.key, L.node.op_type) not in profile.integer_ops:
                continue  # the contract runs this op in float between its Q/DQ (HardwareProfile.integer_ops)
            if plan.activations.type_name in FORMATS or plan.weights.type_name in FORMATS:
                contract[_key(L.node)] = FloatContractLayer(L, plan, profile, calib, recipe=legal.recipes.get(L.name),
                                                            smooth=smooth.get(L.name))
                continue
            contract[_key(L.node)] = ContractLayer(L, plan, profile, calib, qdq,
                                                   requantize_weights=per_channel_weights, folded_relu=g.folded_relu,
                                                   folded_top=g.folded_range_max,
                                                   recipe=legal.recipes.get(L.name), smooth=smooth.get(L.name))
        for L in g.layers:  # a search that chose no scaling did run: say so rather than look like a no-op
            s, r = smooth.get(L.name), legal.recipes.get(L.name)
            if s is not None and r is not None and r.awq and np.all(s == 1.0) and _key(L.node) in contract:
                contract[_key(L.node)].run.notes.append(
                    f"{L.name}: awq searched its scales and kept s = 1 (alpha 0): no channel scaling lowered this "
                    f"layer's output error on the calibration activations")
        for node in g.nodes:  # ONNX's integer ops outside Q/DQ patterns run on the contract's accumulator too
            if node.op_type in ("MatMulInteger", "ConvInteger"):
                kind = MatMulIntegerNode if node.op_type == "MatMulInteger" else ConvIntegerNode
                contract[_key(node)] = kind(node, profile, g.graph.opset)
        overrides = {L.y_int: c.y_p for L in g.layers
                     if L.y_int and _key(L.node) in contract
                     and getattr(c := contract[_key(L.node)], "y_p", L.y_q) is not L.y_q}

    points = [layer.name for layer in wl.layers]
    tensor_of = {}
    for layer in wl.layers:
        node_out = None
        for L in g.layers:
            if L.name == layer.name:
                node_out = f"{L.y_float}::accelsim"
                tensor_of[layer.name] = (L.y_float, node_out)
        if node_out is None:
            n = next((n for n in g.nodes if n.key == layer.name.split("#")[0]), None)
            if n is not None:
                tensor_of[layer.name] = (n.outputs[0], n.outputs[0])
    strip = float_glue or (legal.recipe.removed_qdq if legal.recipe is not None else False)
    if strip and strip is not True:
        layer_qs = {L.y_q_node.key for L in g.layers if L.y_q_node is not None}
        for n in sorted(strip):
            node = next((x for x in g.nodes if x.key == n), None)
            if node is None or node.op_type != "QuantizeLinear" or n in layer_qs:
                raise InputError(f"remove_qdq: '{n}' is not a QuantizeLinear outside the integer layers (an integer "
                                 f"layer's output Q is removed by float_output on that layer)", field="quant.recipe")
    errors: dict[str, ErrorAccumulator] = {}
    cosines = []
    # a chain calibrated on its one evaluation record already holds the float run of it (every tensor)
    reuse = chain and ref_g is g and spec.calibration is spec.evaluation and len(spec.evaluation) == 1
    if metric_only:
        for c in contract.values():
            c.run.track = False
        tensor_of = {name: t for name, t in tensor_of.items() if name == points[-1]}
    for i, feed in enumerate(spec.evaluation):
        if reuse:
            r_env = calib
        elif metric_only:  # only the compared tensors of the float run are kept, once per record
            kept = {t for t, _ in tensor_of.values()} | {g.outputs[0]}
            r_env = cache.setdefault("reference", {}).get(i)
            if r_env is None or not kept <= set(r_env):
                r_env = {k: v for k, v in run_graph(ref_g, feed).items() if k in kept}
                cache["reference"][i] = r_env
        else:
            r_env = run_graph(ref_g, feed)
        q_feed = feed if start_codes is None else {**feed, "::codes": start_codes(feed)}
        q_env = run_graph(g, q_feed, executors=contract, dq_override=overrides, strip_q=strip)
        for name, (rt, qt) in tensor_of.items():
            if rt in r_env and qt in q_env and np.asarray(q_env[qt]).dtype.kind == "f":
                errors.setdefault(name, ErrorAccumulator()).add(q_env[qt], r_env[rt])
        if spec.metric is not None:
            out = g.outputs[0]
            if not np.isfinite(np.asarray(r_env[out], dtype=np.float64)).all():
                raise InputError(_nonfinite_reference(g, spec), source=str(g.path))
            cosines.append(_cos(_pooled(r_env[out]), _pooled(q_env[out])))

    results = {}
    for name in points:
        res = LayerNumerics(layer=name)
        layer = layers_by_name[name]
        if name in errors:
            m = errors[name].metrics()
            res.sqnr_db, res.max_abs_error, res.mean_error, res.cosine = (m["sqnr_db"], m["max_abs_error"],
                                                                         m["mean_error"], m["cosine"])
        L = next((L for L in g.layers if L.name == name), None)
        if chain:
            run = contract[name].run
            if run.local:
                res.sqnr_local_db = run.local.metrics()["sqnr_db"]
            res.events, res.fast_path, res.notes = run.events, run.fast_path, list(run.notes)
            res.overflow_events, res.saturation_events = run.overflow_events, run.saturation_events
            res.ran_in_float = layer.is_float
            plan = plans[name]
            if plan.changes and recalibrate is None and not metric_only:
                node = g.producer[name]
                _, weight, bias = split_operands(node, [g.constants.get(i) if i in g.constants else calib.get(i)
                                                        for i in node.inputs])
                res.changes = measure_changes(layer, [calib[i] for i in layer.inputs], weight, bias, plan)
            else:
                res.changes = list(plan.changes)
        elif L is not None and _key(L.node) in contract:
            c = contract[_key(L.node)]
            if c.run.local:
                res.sqnr_local_db = c.run.local.metrics()["sqnr_db"]
            res.events = c.run.events
            res.notes = list(c.run.notes)
            total = int(c.run.events.sum()) if c.run.events is not None else 0
            if isinstance(c, FloatContractLayer):  # a float accumulator: to inf, or clamped (satfinite)
                sat = profile.float_accumulator[2] == "saturate"
                res.saturation_events, res.overflow_events = (total, 0) if sat else (0, total)
            else:  # as the integer kernel counted them
                res.saturation_events, res.overflow_events = c.run.saturation_events, c.run.overflow_events
            plan = legal.plans[name]
            if plan.changes and recalibrate is None and not metric_only:
                ins = [first[L.x_float]] + ([first[L.b_float]] if L.kind == "matmul" else [])
                res.changes = measure_changes(executed_geometry(layer, L, np.shape(ins[0])), ins, L.weight, L.bias,
                                              plan)
        elif name in contract and isinstance(contract[name], MatMulIntegerNode):
            run = contract[name].run
            res.events, res.notes = run.events, list(run.notes)
            res.overflow_events, res.saturation_events = run.overflow_events, run.saturation_events
        else:
            res.ran_in_float = True
        results[name] = res
    if spec.metric is None:  # no model-level metric (a chain of layers: the last layer's SQNR says it)
        return results, None, []
    fused = {id(L.bias_node) for L in g.layers if L.bias_node is not None}  # run inside their integer layer
    float_ops = sorted({n.op_type for n in g.nodes if id(n) not in fused} - {"MatMul", "Gemm", "Conv", "QuantizeLinear",
                                                                             "DequantizeLinear", "Constant"})
    int_nodes = {id(L.node) for L in g.layers}
    float_macs = [_key(n) for n in g.nodes if n.op_type in ("MatMul", "Gemm", "Conv") and id(n) not in int_nodes]
    folded = getattr(g, "folded_batchnorm", [])
    ops_text = "ONNX ops " + ", ".join(float_ops) if float_ops else ""
    ran_in_float = "; ".join(part for part in (spec.float_parts, ops_text,
                                               f"MatMul/Gemm/Conv nodes {', '.join(float_macs)}" if float_macs
                                               else "",
                                               f"{len(folded)} BatchNormalization folded into their convs (as ONNX "
                                               f"Runtime's optimizer folds them)" if folded else "") if part)
    end_to_end = {"metric": spec.metric, "mean": float(np.mean(cosines)), "min": float(np.min(cosines)),
                  "per_sentence": [round(c, 6) for c in cosines], "sentences": len(spec.evaluation),
                  "calibration_sentences": len(spec.calibration),
                  "ran_in_float": ran_in_float,
                  "reference": _reference_text(g, spec)}
    diagnosis = _diagnose(g, contract, calib, results) if diagnose else []
    return results, end_to_end, diagnosis


def _nonfinite_reference(g, spec) -> str:
    """Why the float reference has inf / NaN, and what to do."""
    if spec.reference is None and g.is_qdq:
        return ("the float version of this QDQ model (its graph without Q/DQ) overflows to inf/NaN: "
                "quantize_static folds activations such as Clip(0, 6) into the Q ranges and their upper bounds "
                "cannot be rebuilt; pass the float model as the reference (--reference model.onnx, or "
                "onnx.reference in the workload YAML)")
    return "the float reference model's output has inf or NaN values on these inputs: check the inputs (--data)"


def _reference_text(g, spec) -> str:
    """What the float reference is (and what accelsim rebuilt in it)."""
    if spec.reference is not None:
        return f"the float model {spec.reference_path or spec.reference.path}"
    if not g.is_qdq:
        return "the model itself (float)"
    text = "the same graph without Q/DQ"
    if g.folded_relu:
        text += (f"; Relu restored after {len(g.folded_relu)} nodes whose output Q range starts at 0 (quantize_static "
                 f"folds a Relu or a Clip into it; rebuilt as a clamp to the Q's range [0, top]): "
                 f"{', '.join(sorted(g.folded_relu))[:200]}; a folded Clip's exact upper bound is the calibration's: "
                 f"pass --reference float.onnx for the exact float model")
    return text


def _diagnose(g, contract, calib, results) -> list[dict]:
    """Per integer layer: its input's quantization error split into clipping and rounding; outlier channels."""
    rows = []
    for L in g.layers:
        c = contract.get(_key(L.node))
        x = calib.get(L.x_float)
        if c is None:  # run in float by this contract (integer_ops)
            continue
        if x is None or isinstance(c, FloatContractLayer):  # the split below is of integer quantization error
            continue
        p = c.x_p
        lo, hi = _real_range(p)
        clipped = np.clip(x, lo, hi)
        dq = dequantize_linear(quantize_linear(x.astype(np.float32), p.scale, p.zero_point), p.scale,
                               p.zero_point).astype(np.float64)
        e_clip = float(np.sum((x - clipped) ** 2))
        e_round = float(np.sum((clipped - dq) ** 2))
        total = e_clip + e_round
        ch = np.abs(x.reshape(-1, x.shape[-1])).max(axis=0) if x.ndim >= 2 else np.abs(x).reshape(-1)
        med = float(np.median(ch)) if ch.size else 0.0
        outliers = np.nonzero(ch > 8 * med)[0] if med > 0 else np.array([], dtype=int)
        r = results.get(L.name)
        rows.append({"layer": L.name, "kind": L.kind, "sqnr_db": r.sqnr_db if r else float("nan"),
                     "sqnr_local_db": r.sqnr_local_db if r else float("nan"),
                     "input_sqnr_db": 10 * np.log10(float(np.sum(x ** 2)) / total) if total > 0 else float("inf"),
                     "clipping_share": e_clip / total if total > 0 else 0.0,
                     "rounding_share": e_round / total if total > 0 else 0.0,
                     "input_range": [float(lo), float(hi)],
                     "outlier_channels": int(outliers.size),
                     "outlier_examples": [int(i) for i in outliers[np.argsort(-ch[outliers])][:5]],
                     "max_over_median": float(ch.max() / med) if med > 0 and ch.size else 0.0})
    rows.sort(key=lambda d: d["sqnr_db"])
    return rows
