"""The timing model beside outside references, with the error of every point: the fidelity table.

    python benchmarks/validate_timing.py            # print the table (markdown)
    python benchmarks/validate_timing.py --write    # and record it in docs/validation.md

References (none of them is accelsim's own closed form):
- SCALE-Sim v3 compute cycles (tests/timing/scalesim_cycles.json, recorded in its own venv by
  tests/timing/scalesim_generate.py), GEMMs and convs including strides that do not divide (H - R);
- GenZ (genz-llm, its own venv: benchmarks/genz_reference.py -> benchmarks/genz_reference.json), Llama-2-7B
  W8A8 prefill and decode at the same peak and bandwidth, efficiency 1, no kernel-launch cost;
- TensorRT-LLM's published LLaMA 7B figures on H100 (docs/source/performance.md of release 0.6.1: batch-1
  first-token latency from v0.5, static-batch throughput from v0.6.1; FP8, the same dense rate and 1-byte
  operands as accelsim's int8);
- this machine: ONNX Runtime's MatMulInteger (MLAS, one thread) timed here, in this run, against accelsim's
  prediction on the xeon-amx profile.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.hardware import load_profile  # noqa: E402
from accelsim.timing import layer_timing  # noqa: E402
from accelsim.timing.llm import model_llm  # noqa: E402
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent  # noqa: E402
from accelsim.workload.llm import MODELS  # noqa: E402

# TensorRT-LLM docs/source/performance.md (release 0.6.1): LLaMA 7B, TP 1
TRTLLM = {
    # profile: (format of weights, math and KV cache; batch-1 first-token ms by input length (v0.5 data);
    #           LLaMA 7B static-batch throughput rows (batch, TP, input, output, output tok/s per GPU, v0.6.1))
    "h100-sxm": ("fp8", {128: 7.0, 2048: 36.0},
                 [(768, 1, 128, 128, 19694), (112, 1, 128, 2048, 6818), (80, 1, 2048, 128, 2244),
                  (48, 1, 2048, 2048, 2740)]),
    "a100-80gb": ("fp16", {128: 16.0, 2048: 133.0},
                  [(384, 1, 128, 128, 5586), (60, 1, 128, 2048, 1928), (52, 1, 2048, 128, 591),
                   (64, 2, 2048, 2048, 782)]),
}
#: LLaMA 70B (Llama 2 70B: GQA, 8 KV heads) rows of the same table, tensor parallel. The H100 table's unit is "out
#: tok/s/GPU"; the A100 table's header says "out tok/s" and is read per GPU as well (read as totals its TP 4 rows
#: would be 4x slower per GPU than the H100's at a third of the bandwidth and rate: implausible)
TRTLLM_70B = {
    "h100-sxm": [(1024, 2, 128, 128, 2657), (480, 4, 128, 2048, 1486), (96, 2, 2048, 128, 306),
                 (64, 2, 2048, 2048, 547)],
    "a100-80gb": [(1280, 4, 128, 128, 670), (240, 4, 128, 2048, 525), (120, 4, 2048, 128, 79)],
}
TRTLLM_FIRST_TOKEN_MS = TRTLLM["h100-sxm"][1]
CPU_SHAPES = [(1, 4096, 4096), (16, 4096, 4096), (128, 1024, 1024), (256, 4096, 4096), (512, 768, 768),
              (2048, 768, 3072)]
CPU_CALIBRATION = (2048, 768, 3072)  # the shape xeon-amx's `efficiency` was calibrated on


def _err(ours: float, theirs: float) -> str:
    return f"{(ours / theirs - 1) * 100:+.1f} %"


def scalesim_section() -> list[str]:
    from accelsim.timing.scalesim_compat import scalesim_layer, scalesim_profile_yaml
    import tempfile

    fixture = json.loads((ROOT / "tests" / "timing" / "scalesim_cycles.json").read_text())
    rows, worst = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for case in fixture["cases"] + [{"kind": "gemm", **fixture["big"]}]:
            path = Path(tmp) / "p.yaml"
            path.write_text(scalesim_profile_yaml(case["rows"], case["cols"], case["dataflow"]))
            ours = layer_timing(scalesim_layer(case["kind"], tuple(case["dims"])), load_profile(path)).compute_cycles
            worst = max(worst, abs(ours - case["cycles"]) / case["cycles"])
            strided = case["kind"] == "conv" and case["dims"][6] > 1
            if strided or case is fixture["cases"][0] or "wall_s" in case:
                rows.append(f"| {case['kind']} {'x'.join(map(str, case['dims']))} | {case['rows']}x{case['cols']} "
                            f"{case['dataflow']} | {case['cycles']:,} | {ours:,} | {_err(ours, case['cycles'])} |")
    head = [f"### SCALE-Sim v{fixture['scalesim_version']}: compute cycles", "",
            f"{len(fixture['cases']) + 1} cases (GEMMs, convs, os/ws/is, 32x32 and 16x8 arrays, shapes that are not "
            f"multiples of the array, strided convs with SCALE-Sim's ceil output size): **largest error "
            f"{worst * 100:.2f} %** (the test's tolerance is 0). The strided convs, the first case and the big GEMM:", "",
            "| layer (conv: H W R S C F stride) | array | SCALE-Sim | accelsim | error |", "|---|---|---|---|---|"]
    return head + rows + [""]


def genz_section() -> list[str]:
    g = json.loads((ROOT / "benchmarks" / "genz_reference.json").read_text())
    cfg = MODELS["llama2-7b"]
    out = [f"### GenZ {g['genz_version']} (roofline peer): Llama-2-7B, batch 1, W8A8", "",
           "Same dense peak and HBM bandwidth, GenZ efficiency 1; accelsim without its per-kernel launch cost (GenZ "
           "has none). GenZ keeps prefill intermediates on chip and models the embedding and the classifier as "
           "GEMMs over every prompt token; accelsim gathers embedding rows and computes the last token's logits "
           "(TensorRT-LLM's default).", "",
           "| profile | phase | GenZ (ms) | accelsim (ms) | error | accelsim's binding resource |",
           "|---|---|---|---|---|---|"]
    for name, per_tokens in g["prefill_ms"].items():
        p = dataclasses.replace(load_profile(name), kernel_launch_s=0.0)
        for tokens, theirs in per_tokens.items():
            r = model_llm(p, cfg, prompt=int(tokens), decode_steps=0)
            bound, share = r.prefill.binding()
            out.append(f"| {name} | prefill {tokens} | {theirs:.2f} | {r.prefill_s * 1e3:.2f} | "
                       f"{_err(r.prefill_s * 1e3, theirs)} | {bound} ({share:.0%}) |")
        r = model_llm(load_profile(name), cfg, prompt=2047, decode_steps=1)
        weights = cfg.layers * cfg.weight_bytes_per_block() + cfg.vocab * cfg.hidden * cfg.weight_bits // 8
        floor = (weights + cfg.layers * 2048 * cfg.kv_bytes_per_token()) / load_profile(name).dram.bandwidth_Bps
        out.append(f"| {name} | decode at 2048 | {g['decode_ms_per_token'][name]:.3f} | {r.tpot_s * 1e3:.3f} | "
                   f"{_err(r.tpot_s * 1e3, g['decode_ms_per_token'][name])} (vs (weights + KV) / bandwidth "
                   f"{floor * 1e3:.3f} ms: {_err(r.tpot_s, floor)}) | {r.decode.binding()[0]} |")
    return out + ["", "GenZ's decode step reads the weights but almost none of the 2048-token KV cache (its figure "
                      "equals weights / bandwidth within 1 %); accelsim's is (weights + KV cache) / bandwidth plus "
                      "the lm_head and pipeline fills.", ""]


#: GPT-J 6B batch-1 first-token latencies of the same v0.5 table (ms by input length): the calibration set
TRTLLM_GPTJ_FIRST_TOKEN_MS = {"h100-sxm": {128: 7.0, 2048: 29.0}, "a100-80gb": {128: 12.0, 2048: 129.0}}


def _first_token_ms(profile, cfg, tokens: int, gemm: float = 1.0) -> float:
    return model_llm(profile.sustained(compute=gemm), cfg, prompt=tokens, decode_steps=0).prefill_s * 1e3


def _first_token_calibration(profile, cfg, published: dict[int, float]) -> tuple[float, float]:
    """(GEMM efficiency, fixed ms per request) that reproduce both published first-token latencies of ``cfg``:
    fixed = published(128) - accelsim(128), and the efficiency bisected until fixed + accelsim(2048) equals
    published(2048) (accelsim's 2048-token latency falls as the efficiency rises)."""
    def residual(e: float) -> float:
        fixed = published[128] - _first_token_ms(profile, cfg, 128, e)
        return fixed + _first_token_ms(profile, cfg, 2048, e) - published[2048]

    lo, hi = 0.05, 1.0
    if residual(hi) >= 0:       # even the datasheet rate is too slow: no efficiency below 1 fits
        lo = hi
    for _ in range(12):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if residual(mid) > 0 else (lo, mid)
    e = hi
    return e, published[128] - _first_token_ms(profile, cfg, 128, e)


def published_section() -> list[str]:
    out = ["### TensorRT-LLM, published (LLaMA 7B, H100 SXM in FP8, A100 80 GB in FP16)", "",
           "Source: NVIDIA/TensorRT-LLM docs/source/performance.md, release 0.6.1 (first-token latency: v0.5 data; "
           "throughput: v0.6.1, static batch, output tokens/s per GPU). accelsim: the profiles as shipped (3 us per "
           "unfused kernel launch in prefill, decode steps from CUDA graphs), weights, GEMMs and KV cache in the "
           "published format (fp8 runs at the int8 rate on H100, fp16 at half of it on both; timing only). "
           "*Calibrated on GPT-J*: the first-token rows again, with the GEMMs' sustained share of the MAC rate and a "
           "fixed time per request (the runtime around the engine, not in the contract) solved from the **GPT-J 6B** "
           "first-token latencies of the same table (`gptj-6b`); no LLaMA figure enters them.", "",
           "| GPU | case | published | accelsim | error | calibrated on GPT-J | error |",
           "|---|---|---|---|---|---|---|"]
    for name, (fmt, first_token, throughput) in TRTLLM.items():
        p = load_profile(name)
        bits = 16 if fmt == "fp16" else 8
        cfg, gptj = (dataclasses.replace(MODELS[m], weight_bits=bits, activation_bits=bits, kv_cache_bits=bits,
                                         math_format=fmt) for m in ("llama2-7b", "gptj-6b"))
        eff, fixed = _first_token_calibration(p, gptj, TRTLLM_GPTJ_FIRST_TOKEN_MS[name])
        ttft, cal = {}, {}
        for tokens, pub in first_token.items():
            ttft[tokens] = _first_token_ms(p, cfg, tokens)
            cal[tokens] = fixed + _first_token_ms(p, cfg, tokens, eff)
            out.append(f"| {name} | first token, batch 1, {tokens} in | {pub:g} ms | {ttft[tokens]:.2f} ms | "
                       f"{_err(ttft[tokens], pub)} | {cal[tokens]:.2f} ms (GEMMs {eff:.2f}, +{fixed:.2f} ms) | "
                       f"{_err(cal[tokens], pub)} |")
        ratio_pub = first_token[2048] / first_token[128]
        ratio, ratio_cal = ttft[2048] / ttft[128], cal[2048] / cal[128]
        out.append(f"| {name} | first-token growth 128 -> 2048 | {ratio_pub:.2f}x | {ratio:.2f}x | "
                   f"{_err(ratio, ratio_pub)} | {ratio_cal:.2f}x | {_err(ratio_cal, ratio_pub)} |")
        for batch, tp, tin, tout, pub in throughput:
            r = model_llm(p, dataclasses.replace(cfg, tp=tp), prompt=tin, decode_steps=tout - 1, batch=batch)
            per_gpu = r.tokens_per_s / tp
            out.append(f"| {name} | throughput, batch {batch}, TP {tp}, {tin} in / {tout} out | {pub:,} tok/s | "
                       f"{per_gpu:,.0f} tok/s | {_err(per_gpu, pub)} | (next section) | |")
    return out + ["", "Beyond 25 %, as shipped: the absolute first-token latencies (accelsim's kernels run near the "
                      "datasheet rate: the v0.5 FP8 context kernels reached ~40 % of the dense peak, 27.6 TFLOP in "
                      "36 ms, and each published figure carries a few milliseconds of runtime around the engine; both "
                      "are what the GPT-J calibration measures, and with it the H100 points fall within 10 %), and the "
                      "static-batch throughputs (the next section). The A100 growth stays beyond 25 % either way: "
                      "the published A100 FP16 figures put LLaMA 7B at 1.33x GPT-J 6B at 128 tokens but 1.03x at 2048 "
                      "(H100: 1.00x and 1.24x), while the two models' GEMM FLOPs differ by 1.15x, their weight bytes by "
                      "1.11x and their attention by 1.14x at every length; no model that charges work by FLOPs and bytes "
                      "reproduces both, and the issue's H100 growth (the ratio that cancels kernel efficiency and "
                      "runtime overhead best) is within the 25 %.", ""]


#: GPT-J 6B rows of the same v0.6.1 table (batch, TP, input, output, output tok/s per GPU): the calibration set
TRTLLM_GPTJ = {
    "h100-sxm": [(1024, 1, 128, 128, 26150), (120, 1, 128, 2048, 8011), (64, 1, 2048, 128, 2551),
                 (64, 1, 2048, 2048, 3327)],
    "a100-80gb": [(512, 1, 128, 128, 6374), (120, 2, 128, 2048, 2192), (60, 1, 2048, 128, 670),
                  (64, 2, 2048, 2048, 903)],
}
#: the calibrated settings searched: the GEMMs' share of the datasheet MAC rate, and the share of the datasheet DRAM
#: bandwidth the kernels sustain
GEMM_EFFICIENCIES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
DRAM_EFFICIENCIES = (0.6, 0.7, 0.8, 0.9, 1.0)


def _static_throughput(profile, cfg, rows) -> list[float]:
    """Output tokens/s per GPU of each (batch, TP, in, out, ...) row as a static batch through the serving
    simulation, with the whole device memory available (TensorRT-LLM's GptSession allocates exactly the batch's KV
    cache)."""
    from accelsim.serve import ServeConfig, deploy, simulate
    from accelsim.serve.traffic import Request

    out = []
    for batch, tp, tin, tout, *_ in rows:
        dep = deploy(profile, cfg, tp=tp, memory_fraction=1.0)
        reqs = [Request(i, 0.0, tin, tout) for i in range(batch)]
        r = simulate(dep, reqs, ServeConfig(batch_policy="static", max_batch=batch), duration_s=0.0, drain=True)
        out.append(r.summary()["throughput_tokens_per_s"] / tp)
    return out


def _calibrate(profile, cfg, rows) -> tuple[float, float, list[float]]:
    """(GEMM efficiency, DRAM efficiency, predicted throughputs): the grid point whose static-batch throughputs
    are closest to the published ``rows`` in squared log error, refined once around the best point."""
    import numpy as np

    pub = np.log([r[4] for r in rows])

    def score(g, d):
        pred = _static_throughput(profile.sustained(compute=g, dram=d), cfg, rows)
        return float(((np.log(pred) - pub) ** 2).sum()), pred

    best = min(((score(g, d), g, d) for g in GEMM_EFFICIENCIES for d in DRAM_EFFICIENCIES), key=lambda x: x[0][0])
    (_, _), g0, d0 = best
    fine = [(score(g, d), g, d) for g in np.clip(g0 + np.array([-0.05, 0.0, 0.05]), 0.05, 1.0)
            for d in np.clip(d0 + np.array([-0.05, 0.0, 0.05]), 0.05, 1.0)]
    (_, pred), g, d = min([best, *fine], key=lambda x: x[0][0])
    return float(g), float(d), pred


def serving_section() -> list[str]:
    """The static-batch rows through the serving simulation (accelsim.serve): every request of a batch arriving
    together, static batching, drained; as shipped, and with two settings per GPU (the GEMMs' sustained share of
    the MAC rate and the kernels' sustained share of the DRAM bandwidth) calibrated on the GPT-J 6B rows of the
    same table, then every LLaMA 7B row predicted with them."""
    out = ["### Serving simulation, static batch, against the same TensorRT-LLM throughput rows", "",
           "`accelsim.serve.simulate`: the batch arrives at once, static batching (the prompt padded to the longest, "
           "every slot held until the longest output ends), decode batches padded to CUDA-graph sizes, drained; the "
           "whole device memory available, as TensorRT-LLM's GptSession allocates exactly the batch's KV cache. "
           "*Calibrated on GPT-J*: two numbers per GPU, the GEMMs' sustained share of the datasheet MAC rate and "
           "the kernels' sustained share of the datasheet HBM bandwidth, searched on a grid to fit the **GPT-J 6B** "
           "rows of the same table (same GPU, runtime and precision, a different model: `gptj-6b`), then every "
           "**LLaMA 7B** row below predicted with them; no LLaMA figure enters the calibration.", ""]
    fits = []
    for name, rows in TRTLLM_GPTJ.items():
        fmt = TRTLLM[name][0]
        bits = 16 if fmt == "fp16" else 8
        gptj = dataclasses.replace(MODELS["gptj-6b"], weight_bits=bits, activation_bits=bits, kv_cache_bits=bits,
                                   math_format=fmt)
        g, d, pred = _calibrate(load_profile(name), gptj, rows)
        fits.append((name, g, d, rows, pred))
    out += ["| GPU | calibration rows (GPT-J 6B): batch, TP, in / out | published | fitted | error | GEMM efficiency | "
            "HBM efficiency |", "|---|---|---|---|---|---|---|"]
    for name, g, d, rows, pred in fits:
        for (batch, tp, tin, tout, pub), ours in zip(rows, pred):
            out.append(f"| {name} | {batch}, {tp}, {tin} / {tout} | {pub:,} tok/s | {ours:,.0f} | {_err(ours, pub)} | "
                       f"{g:.2f} | {d:.2f} |")
    out += ["", "| GPU | predicted: model, batch, TP, in / out | published | serving sim, as shipped | error | "
                "calibrated on GPT-J | error |", "|---|---|---|---|---|---|---|"]
    worst = 0.0
    for name, g, d, _, _ in fits:
        fmt = TRTLLM[name][0]
        bits = 16 if fmt == "fp16" else 8
        p = load_profile(name)
        for model, rows in (("llama2-7b", TRTLLM[name][2]), ("llama2-70b", TRTLLM_70B[name])):
            # v0.6.1's generation kernel runs one thread block per query head (gpt_attention.md at that release),
            # so a grouped-query model's K/V are read once per query head
            cfg = dataclasses.replace(MODELS[model], weight_bits=bits, activation_bits=bits, kv_cache_bits=bits,
                                      math_format=fmt, kv_reads="per_query_head")
            shipped = _static_throughput(p, cfg, rows)
            calibrated = _static_throughput(p.sustained(compute=g, dram=d), cfg, rows)
            for (batch, tp, tin, tout, pub), a, b in zip(rows, shipped, calibrated):
                worst = max(worst, abs(b / pub - 1))
                out.append(f"| {name} | {model}, {batch}, {tp}, {tin} / {tout} | {pub:,} tok/s | {a:,.0f} | "
                           f"{_err(a, pub)} | {b:,.0f} | {_err(b, pub)} |")
    return out + ["", f"Largest error of the calibrated predictions: **{worst * 100:.1f} %** (throughputs per GPU). As "
                      "shipped (datasheet rates, no per-step host work), accelsim is faster on most decode-heavy rows: "
                      "the decode steps of large static batches stream the weights and the KV cache, and TensorRT-LLM "
                      "v0.6.1's masked multi-head attention, sampling and batch manager move them below the datasheet "
                      "HBM bandwidth; the calibrated shares say how far below, measured on a different model. The "
                      "tensor-parallel rows (LLaMA 70B on 2 and 4 GPUs, calibrated on a 6B model) also test the "
                      "sharding and the all-reduces (accelsim.timing.llm.all_reduce_s), and the attention kernel of the "
                      "time: v0.6.1's masked MHA runs one thread block per query head (docs/source/gpt_attention.md of "
                      "that release), so LLaMA 70B's grouped K/V are read once per query head (`kv_reads: "
                      "per_query_head`); read once per group, as GQA-aware kernels do (accelsim's default), the "
                      "decode-heavy 70B rows would come out 2-2.5x faster than published. The A100 70B 128-in / "
                      "2048-out row, the worst, errs the other way: reading the K/V once per query head is an upper "
                      "bound on the DRAM traffic (some of a group's re-reads may hit the L2), and the A100's HBM "
                      "share was fitted on GPT-J's multi-head rows, where no such re-reads exist. Reproduced by "
                      "tests/serve/test_published.py (tolerance 30 %).", ""]


def cpu_section(repeats: int = 10) -> list[str]:
    try:
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return ["### This machine", "", "onnxruntime is not installed: skipped.", ""]
    p = load_profile("xeon-amx")
    q = LayerQuant(QuantIntent(), QuantIntent())
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = [f"### This machine: ONNX Runtime {ort.__version__} MatMulInteger, one thread, on {cpu}", "",
           "uint8 x int8 -> int32, weights constant (prepacked), best of "
           f"{repeats} after warm-up, timed in this run; accelsim on the xeon-amx profile (AMX at 1024 MAC/cycle "
           "datasheet, `efficiency: 0.37` calibrated once on the 2048 x 768 x 3072 shape, marked (cal.); every other "
           "row is a prediction).", "",
           "| M x K x N | ONNX Runtime (ms) | GMAC/s | accelsim (ms) | error | accelsim's binding resource |",
           "|---|---|---|---|---|---|"]
    for m, k, n in CPU_SHAPES:
        rng = np.random.default_rng(0)
        w = numpy_helper.from_array(rng.integers(-128, 127, (k, n)).astype(np.int8), "w")
        g = helper.make_graph([helper.make_node("MatMulInteger", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.UINT8, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])], initializer=[w])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        x = rng.integers(0, 255, (m, k)).astype(np.uint8)
        for _ in range(3):
            sess.run(None, {"x": x})
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            sess.run(None, {"x": x})
            best = min(best, time.perf_counter() - t0)
        layer = Layer(name="mm", op="linear", inputs=("x",), in_shapes=((m, k),), out_shape=(m, n), quant=q, bias=False)
        t = layer_timing(layer, p, 8, 8)
        ours = t.cycles / p.clock_hz
        cal = " (cal.)" if (m, k, n) == CPU_CALIBRATION else ""
        out.append(f"| {m} x {k} x {n}{cal} | {best * 1e3:.3f} | {m * k * n / best / 1e9:.0f} | {ours * 1e3:.3f} | "
                   f"{_err(ours, best)} | {t.bottleneck} |")
    return out + ["", "The weight-streaming shapes (M <= 16) are bound by one core's memory bandwidth; the others by "
                      "the AMX unit at the sustained rate. Why MLAS reaches only ~37 % of the datasheet rate (tile "
                      "loads from L2, the C-tile init and store around every 32 x 32 block, the AMX frequency) is not "
                      "modelled from first principles: it is the one calibrated number.", ""]


#: TPU v1 applications (Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing Unit", ISCA 2017):
#: Table 1's FC layers, vector (elementwise) layers, weights and batch; Table 3's measured TeraOps/s. The paper gives
#: no layer shapes; the CNNs (16 and 89 layers of unpublished depths) are left out
TPU_V1_APPS = {
    "MLP0": (5, 0, 20e6, 200, 12.3),
    "MLP1": (4, 0, 5e6, 168, 9.7),
    "LSTM0": (24, 34, 52e6, 64, 3.7),
    "LSTM1": (37, 19, 34e6, 96, 2.8),
}


def tpu_v1_app(name: str) -> tuple[float, float]:
    """(accelsim's TeraOps/s on tpu-v1, the paper's) for one of TPU_V1_APPS, rebuilt from Table 1's totals: its FC
    layers as equal square layers holding the stated weights (batch x weights MACs, the paper's ops per weight byte),
    its vector layers as elementwise ops on their outputs (sigmoid / tanh timed as silu's exp and divide), run in
    the whole-network simulation."""
    from accelsim.timing.network import simulate_profile_network

    fc, vector, weights, batch, published = TPU_V1_APPS[name]
    p = load_profile("tpu-v1")
    q = LayerQuant(QuantIntent(), QuantIntent())
    n = round((weights / fc) ** 0.5)
    layers = [Layer(name=f"fc{i}", op="linear", inputs=(f"x{i}",), in_shapes=((batch, n),), out_shape=(batch, n),
                    quant=q) for i in range(fc)]
    layers += [Layer(name=f"gate{i}", op="silu", inputs=(f"g{i}",), in_shapes=((batch, n),), out_shape=(batch, n),
                     quant=q) for i in range(vector)]
    timings = [(layer.name, layer_timing(layer, p, 8, 8)) for layer in layers]
    seconds = simulate_profile_network(timings, p).cycles / p.clock_hz
    return 2 * sum(t.macs for _, t in timings) / seconds / 1e12, published


def tpu_v1_section() -> list[str]:
    out = ["### TPU v1, published per application (Jouppi et al., ISCA 2017)", "",
           "Measured TeraOps/s per application (the paper's Table 3) beside accelsim on `tpu-v1`. The paper publishes "
           "each application's layer counts, weights and batch (Table 1), not its layer shapes: the FC layers are "
           "rebuilt as equal square layers holding the stated weights at the stated batch (so the MACs per weight "
           "byte are the paper's), the LSTMs' vector layers as elementwise ops. The MLPs and LSTMs are weight-bound "
           "(Table 3: 44-62 % weight-stall cycles), so their figure depends on the weight bytes and the batch more "
           "than on the shapes. The CNNs are left out: their figure depends on channel depths against the 256-wide "
           "array, which are not published.", "",
           "| application | FC + vector layers | weights | batch | paper (TOPS) | accelsim (TOPS) | error |",
           "|---|---|---|---|---|---|---|"]
    for name, (fc, vector, weights, batch, _) in TPU_V1_APPS.items():
        ours, published = tpu_v1_app(name)
        out.append(f"| {name} | {fc} + {vector} | {weights / 1e6:g} M | {batch} | {published:g} | {ours:.2f} | "
                   f"{_err(ours, published)} |")
    return out + ["", "Beyond 25 %: LSTM1, which the paper measures at 2.8 TOPS, 2.3x its own weight-streaming "
                      "time: Table 3 charges it 10.6 % read-after-write stalls (its time steps depend on each other) "
                      "and 4.2 % unused MACs (layers narrower than the array), which 37 equal layers rebuilt from the "
                      "totals cannot have. tests/timing/test_peers.py holds MLP0, MLP1 and LSTM0 within 15 %.", ""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="record the table in docs/validation.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    lines = ["# Timing fidelity: accelsim beside outside references", "",
             "Regenerate with `python benchmarks/validate_timing.py --write` (the machine section times ONNX Runtime "
             "on the machine that runs it).", ""]
    lines += (scalesim_section() + genz_section() + published_section() + serving_section() + tpu_v1_section()
              + cpu_section())
    lines += [f"_generated in {time.perf_counter() - t0:.1f} s_", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        (ROOT / "docs" / "validation.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
