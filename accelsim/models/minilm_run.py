"""MiniLM as an accelsim workload: its layer list (for timing and results) and its numerics per profile.

The numerics: calibrate every linear layer's input and output ranges on the calibration sentences
(float forward), then run each evaluation sentence through the float model and through the quantized
model (linear layers bit-accurate under the contract, the rest float) and compare at every layer:
SQNR propagated from the embeddings (``sqnr_db``), the layer's own error (``sqnr_local_db``),
overflow/saturation events, and the end-to-end metric: the cosine similarity of each sentence
embedding (mean-pooled final hidden states, normalized) to the float one.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.hardware import HardwareProfile
from accelsim.models.minilm import BertConfig, MiniLM, load_minilm
from accelsim.numerics.api import qlinear, qlinear_grouped
from accelsim.numerics.execute import LayerNumerics, activation_params, weight_params
from accelsim.numerics.metrics import error_metrics
from accelsim.numerics.cost import measure_changes
from accelsim.quant.legalize import LegalizedWorkload
from accelsim.quant.quantizers import quantize_per_group
from accelsim.workload.layers import Layer, LayerQuant

#: ops that stay float in this model, as the report states
FLOAT_PARTS = "attention score/context matmuls, softmax, LayerNorm (with residual adds), GELU, embeddings, pooling"


def minilm_layers(seq_len: int, quant: LayerQuant, config: BertConfig | None = None) -> list[Layer]:
    """One encoder pass over ``seq_len`` tokens (batch 1) as accelsim layers, in execution order."""
    cfg = config or BertConfig()
    s, h, f, heads = seq_len, cfg.hidden, cfg.intermediate, cfg.heads
    out: list[Layer] = []
    prev = "embeddings"

    def lin(name, src, k, n):
        return Layer(name=name, op="linear", inputs=(src,), in_shapes=((s, k),), out_shape=(s, n), quant=quant,
                     bias=True)

    for i in range(cfg.layers):
        p = f"l{i}."
        out += [
            lin(p + "query", prev, h, h), lin(p + "key", prev, h, h), lin(p + "value", prev, h, h),
            Layer(name=p + "scores", op="matmul", inputs=(p + "query", p + "key"), in_shapes=((s, h), (s, h)),
                  out_shape=(heads, s, s), quant=quant, heads=heads, transpose_b=True),
            Layer(name=p + "probs", op="softmax", inputs=(p + "scores",), in_shapes=((heads, s, s),),
                  out_shape=(heads, s, s), quant=quant, scale=1.0 / math.sqrt(cfg.head_dim)),
            Layer(name=p + "context", op="matmul", inputs=(p + "probs", p + "value"),
                  in_shapes=((heads, s, s), (s, h)), out_shape=(s, h), quant=quant, heads=heads, merge_heads=True),
            lin(p + "attn_out", p + "context", h, h),
            Layer(name=p + "attn_norm", op="layernorm", inputs=(p + "attn_out", prev), in_shapes=((s, h), (s, h)),
                  out_shape=(s, h), quant=quant),
            lin(p + "ffn_in", p + "attn_norm", h, f),
            Layer(name=p + "gelu", op="gelu", inputs=(p + "ffn_in",), in_shapes=((s, f),), out_shape=(s, f),
                  quant=quant),
            lin(p + "ffn_out", p + "gelu", f, h),
            Layer(name=p + "out_norm", op="layernorm", inputs=(p + "ffn_out", p + "attn_norm"),
                  in_shapes=((s, h), (s, h)), out_shape=(s, h), quant=quant),
        ]
        prev = p + "out_norm"
    return out


class _QuantizedLinears:
    """Per linear layer: calibrated input/output params, quantized weights and the integer path."""

    def __init__(self, model: MiniLM, legal: LegalizedWorkload, calib_in: dict, calib_out: dict):
        self.model, self.legal, self.profile = model, legal, legal.profile
        self.layers = {}
        for (i, name), xs in calib_in.items():
            key = f"l{i}.{name}"
            plan = legal.plans[key]
            w, b = model.linear_params(i, name)
            x_cat = np.concatenate(xs)
            y_cat = np.concatenate(calib_out[(i, name)])
            in_p = activation_params(x_cat, plan.activations)
            out_p = activation_params(y_cat, plan.activations)
            if plan.weights.granularity == "per_group":
                w_q, w_s, w_z = quantize_per_group(w, plan.weights.type_name, plan.weights.symmetric,
                                                   plan.weights.group_size, calibration=plan.weights.calibration
                                                   if plan.weights.calibration != "entropy" else "minmax",
                                                   power_of_two=plan.weights.power_of_two, narrow=plan.weights.narrow)
                wp = None
            else:
                wp = weight_params(w, plan.weights, axis=1)
                w_q, w_s, w_z = wp.quantize(w), None, None
            self.layers[key] = dict(plan=plan, w=w, b=b, in_p=in_p, out_p=out_p, wp=wp, w_q=w_q, w_s=w_s, w_z=w_z)
        self.events: dict[str, np.ndarray] = {}
        self.local: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}

    def __call__(self, i: int, name: str, x: np.ndarray) -> np.ndarray:
        key = f"l{i}.{name}"
        L = self.layers[key]
        in_p, out_p, plan = L["in_p"], L["out_p"], L["plan"]
        x_q = in_p.quantize(x)
        x_scale, x_zp = float(in_p.scale), int(in_p.zero_point)
        y_scale, y_zp = float(out_p.scale), int(out_p.zero_point)
        if L["wp"] is None:
            y_q, stats = qlinear_grouped(x_q, L["w_q"], L["b"], x_scale=x_scale, x_zero_point=x_zp, w_scale=L["w_s"],
                                         w_zero_point=L["w_z"], group_size=plan.weights.group_size, y_scale=y_scale,
                                         y_zero_point=y_zp, hw=self.profile, x_type=in_p.type_name,
                                         w_type=plan.weights.type_name, y_type=out_p.type_name)
        else:
            wp = L["wp"]
            w_scale = wp.scale.reshape(-1) if wp.per_channel else float(wp.scale)
            w_zp = wp.zero_point.reshape(-1) if wp.per_channel else int(wp.zero_point)
            s = x_scale * np.asarray(w_scale, dtype=np.float64)
            bias_q = np.clip(np.rint(L["b"] / s), -(2**31), 2**31 - 1).astype(np.int32)
            y_q, stats = qlinear(x_q, L["w_q"], bias_q, x_scale=x_scale, x_zero_point=x_zp, w_scale=w_scale,
                                 w_zero_point=w_zp, y_scale=y_scale, y_zero_point=y_zp, hw=self.profile,
                                 x_type=in_p.type_name, w_type=wp.type_name, y_type=out_p.type_name)
        grid = stats.events.by_channel_chunk
        self.events[key] = grid if key not in self.events else self.events[key] + grid
        y = out_p.dequantize(y_q)
        self.local.setdefault(key, []).append((y, x @ L["w"] + L["b"]))
        return y


def run_minilm(legal: LegalizedWorkload, sentences: list[str], calibration: list[str], max_tokens: int,
               progress=None) -> tuple[dict[str, LayerNumerics], dict]:
    """Per-layer numerics and the end-to-end sentence-embedding metric for one profile."""
    model = load_minilm()
    profile: HardwareProfile = legal.profile
    calib_in: dict = {}
    calib_out: dict = {}

    def record(i, name, x):
        w, b = model.linear_params(i, name)
        y = x @ w + b
        calib_in.setdefault((i, name), []).append(x)
        calib_out.setdefault((i, name), []).append(y)
        return y

    for s in calibration:
        model.forward(model.tokenize(s, max_tokens), linear=record)
    qlin = _QuantizedLinears(model, legal, calib_in, calib_out)

    ref: dict[str, list] = {}
    got: dict[str, list] = {}
    cosines = []
    for s in sentences:
        ids = model.tokenize(s, max_tokens)
        h_ref = model.forward(ids, tap=lambda p, v: ref.setdefault(p, []).append(v))
        h_q = model.forward(ids, linear=qlin, tap=lambda p, v: got.setdefault(p, []).append(v))
        e_ref, e_q = model.sentence_embedding(h_ref), model.sentence_embedding(h_q)
        cosines.append(float(e_ref @ e_q))
        if progress is not None:
            progress(f"sentence {len(cosines)}/{len(sentences)}")

    results: dict[str, LayerNumerics] = {}
    for layer in legal.workload.layers:
        res = LayerNumerics(layer=layer.name)
        point = layer.name
        if point in ref:
            r = np.concatenate([v.reshape(-1) for v in ref[point]])
            g = np.concatenate([v.reshape(-1) for v in got[point]])
            m = error_metrics(g, r)
            res.sqnr_db, res.max_abs_error, res.mean_error, res.cosine = (m["sqnr_db"], m["max_abs_error"],
                                                                         m["mean_error"], m["cosine"])
        if layer.op == "linear":
            pairs = qlin.local[layer.name]
            res.sqnr_local_db = error_metrics(np.concatenate([y.reshape(-1) for y, _ in pairs]),
                                              np.concatenate([f.reshape(-1) for _, f in pairs]))["sqnr_db"]
            grid = qlin.events[layer.name]
            res.events = grid
            sat = profile.accumulator.overflow == "saturate" or profile.accumulator.spill_overflow == "saturate"
            total = int(grid.sum())
            res.saturation_events, res.overflow_events = (total, 0) if sat else (0, total)
            plan = legal.plans[layer.name]
            i, name = int(layer.name.split(".")[0][1:]), layer.name.split(".")[1]
            w, b = model.linear_params(i, name)
            res.changes = measure_changes(layer, [np.concatenate(calib_in[(i, name)])], w, b, plan)
        else:
            res.ran_in_float = True
            res.sqnr_local_db = float("inf")
            # float parts are not quantized in this model: no legalization applies to them
        results[layer.name] = res
    end_to_end = {"metric": "sentence-embedding cosine similarity to float (mean-pooled final hidden states)",
                  "mean": float(np.mean(cosines)), "min": float(np.min(cosines)),
                  "per_sentence": [round(c, 6) for c in cosines], "sentences": len(sentences),
                  "calibration_sentences": len(calibration), "ran_in_float": FLOAT_PARTS}
    return results, end_to_end


def minilm_workload(section, quant: LayerQuant, name: str, description: str, source: str):
    """The Workload of a YAML ``model:`` section (all-MiniLM-L6-v2): layers generated from the architecture,
    data from the model's own inputs (the sentences)."""
    from accelsim.workload.workload import DataSpec, ModelSpec, TensorSpec, Workload

    layers = tuple(minilm_layers(section.seq_len, quant))
    spec = ModelSpec(name=section.name, seq_len=section.seq_len, max_tokens=section.max_tokens,
                     sentences=tuple(section.sentences), calibration=tuple(section.calibration))
    return Workload(name=name, description=description,
                    inputs=(TensorSpec(name="embeddings", shape=(section.seq_len, 384), sampled=True),),
                    layers=layers, data=DataSpec(), sample=len(section.sentences), source=source, model=spec)
