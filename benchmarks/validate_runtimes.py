"""Runtime profiles against published LLM measurements: calibration rows and predicted rows apart.

    python benchmarks/validate_runtimes.py                 # the table (markdown) and the summary
    python benchmarks/validate_runtimes.py --calibrate     # refit every runtime's calibrated numbers on the rows
                                                           # its YAML names, print them (paste into the YAML)

Each published row (benchmarks/published/llm.yaml) is predicted by accelsim on the row's hardware contract under
the runtime profile of the release that measured it (hw_profiles/runtimes/<runtime>.yaml). A runtime's hardware
section names the rows its fitted numbers come from (``calibration:``); every other row is a prediction, and the
summary figures (median and worst |error|) are over predicted rows only. The datasheet bound (runtime ``ideal``)
stands beside each prediction.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.hardware import load_profile  # noqa: E402
from accelsim.runtime import IDEAL, load_runtime  # noqa: E402
from accelsim.workload.llm import MODELS  # noqa: E402

PUBLISHED = ROOT / "benchmarks" / "published" / "llm.yaml"
#: weights, GEMM format and KV cache of each published precision: (weight bits, activation bits, KV bits, format)
PRECISIONS = {"fp8": (8, 8, 8, "fp8"), "fp16": (16, 16, 16, "fp16"), "bf16": (16, 16, 16, "bf16")}


def load_rows() -> tuple[dict, list[dict]]:
    data = yaml.safe_load(PUBLISHED.read_text())
    rows = data["rows"]
    for r in rows:
        r["id"] = row_id(r)
    return data["sources"], rows


def row_id(r: dict) -> str:
    batch = f"/b{r['batch']}" if "batch" in r else ""
    lengths = f"{r['isl']}-{r['osl']}" if "osl" in r else f"{r['isl']}"
    return f"{r['runtime']}/{r['hw']}/{r['model']}/{r['kind']}{batch}/tp{r['tp']}/{lengths}"


def model_config(r: dict):
    w, a, kv, fmt = PRECISIONS[r["precision"]]
    return dataclasses.replace(MODELS[r["model"]], weight_bits=w, activation_bits=a, kv_cache_bits=kv,
                               math_format=fmt, tp=r["tp"])


def predict(r: dict, runtime) -> float:
    """accelsim's figure for published row ``r`` under ``runtime`` (a RuntimeProfile), in the row's unit."""
    from accelsim.timing.llm import model_llm

    hw = load_profile(r["hw"])
    cfg = model_config(r)
    if r["kind"] == "first_token":
        return model_llm(hw, cfg, prompt=r["isl"], decode_steps=0, batch=1, runtime=runtime).prefill_s * 1e3
    if r["kind"] == "latency":
        run = model_llm(hw, cfg, prompt=r["isl"], decode_steps=r["osl"] - 1, batch=r["batch"], runtime=runtime)
        return (run.prefill_s + run.decode_s) * 1e3
    if r["kind"] == "static":
        run = model_llm(hw, cfg, prompt=r["isl"], decode_steps=r["osl"] - 1, batch=r["batch"], runtime=runtime)
        return run.tokens_per_s / (r["tp"] if r["unit"] == "tok/s/gpu" else 1)
    if r["kind"] == "inflight":
        from accelsim.serve.cost import deploy
        from accelsim.serve.max_throughput import max_throughput

        dep = deploy(hw, dataclasses.replace(cfg, tp=1), tp=r["tp"], runtime=runtime)
        return max_throughput(dep, r["isl"], r["osl"], r["requests"])["throughput_tokens_per_s"]
    raise ValueError(f"unknown kind {r['kind']}")


def error(ours: float, published: float) -> float:
    """Signed relative error of a prediction (throughputs and latencies alike: ours / published - 1)."""
    return ours / published - 1


# -- calibration -------------------------------------------------------------------------------------------------

#: the numbers a hardware section may fit, with their search ranges
FITTED = {"gemm": (0.2, 1.0), "dram_efficiency": (0.3, 1.0), "step_overhead_s": (0.0, 6e-3),
          "request_overhead_s": (0.0, 20e-3)}


def _with(runtime, params: dict, rate_class: str):
    """``runtime`` with fitted ``params`` (gemm: the share for ``rate_class``)."""
    changes = {k: v for k, v in params.items() if k != "gemm"}
    if "gemm" in params:
        gemm = dict(runtime.gemm_efficiency)
        gemm[rate_class] = params["gemm"]
        changes["gemm_efficiency"] = tuple(sorted(gemm.items()))
    return dataclasses.replace(runtime, **changes)


def calibrate(runtime_name: str, hw: str, rows: list[dict], log=print) -> dict:
    """Fit a runtime's numbers for ``hw`` on its calibration ``rows`` (squared log error; coordinate descent with a
    golden-section search per number, two sweeps). Fits request_overhead_s only where first-token rows are among
    them."""
    base = load_runtime(runtime_name, hw)
    rate_class = PRECISIONS[rows[0]["precision"]][3]
    kinds = {r["kind"] for r in rows}
    names = []   # what the rows can tell apart: throughputs the kernels' shares and the host time per step; first
    if kinds & {"static", "inflight"}:   # tokens the GEMM share and the set-up per request; a latency row the step
        names += ["gemm", "dram_efficiency", "step_overhead_s"]
    if "first_token" in kinds:
        names += [n for n in ("gemm", "request_overhead_s") if n not in names]
    if kinds == {"latency"}:
        names = ["step_overhead_s"]
    params = {"gemm": base.gemm_share(rate_class), "dram_efficiency": base.dram_efficiency,
              "step_overhead_s": base.step_overhead_s, "request_overhead_s": base.request_overhead_s}
    params = {k: params[k] for k in names}
    memo: dict[tuple, float] = {}

    def loss(p: dict) -> float:
        key = tuple(round(p[k], 6) for k in names)
        if key not in memo:
            rt = _with(base, p, rate_class)
            memo[key] = sum(math.log(predict(r, rt) / r["value"]) ** 2 for r in rows)
        return memo[key]

    g = (math.sqrt(5) - 1) / 2
    for sweep, (steps, span) in enumerate(((5, 1.0), (2, 0.08))):  # the whole range, then around the first fit
        for name in names:
            lo, hi = FITTED[name]
            width = (hi - lo) * span
            a, b = (lo, hi) if span == 1.0 else (max(lo, params[name] - width), min(hi, params[name] + width))
            for _ in range(steps):
                c, d = b - g * (b - a), a + g * (b - a)
                if loss({**params, name: c}) <= loss({**params, name: d}):
                    b = d
                else:
                    a = c
            best = min((a + b) / 2, params[name], key=lambda v: loss({**params, name: v}))
            params[name] = best
            log(f"  {runtime_name}/{hw} sweep {sweep + 1}: {name} = {best:.4g} (loss {loss(params):.4f})")
    return params


# -- the table ---------------------------------------------------------------------------------------------------

def evaluate(rows: list[dict], progress=None) -> list[dict]:
    """Every row predicted under its runtime (and the ideal bound), marked calibration or prediction."""
    out = []
    for i, r in enumerate(rows):
        rt = load_runtime(r["runtime"], r["hw"])
        ours = predict(r, rt)
        bound = predict(r, dataclasses.replace(IDEAL, scheduler=rt.scheduler))  # the kernels ideal, same scheduler
        out.append({**r, "ours": ours, "ideal": bound, "error": error(ours, r["value"]),
                    "ideal_error": error(bound, r["value"]), "calibration": r["id"] in rt.calibration})
        if progress is not None:
            progress(i + 1, len(rows), r["id"])
    return out


def summary(results: list[dict]) -> dict:
    predicted = [abs(x["error"]) for x in results if not x["calibration"]]
    ideal = [abs(x["ideal_error"]) for x in results if not x["calibration"]]
    return {"predicted_rows": len(predicted), "calibration_rows": len(results) - len(predicted),
            "median_abs_error": statistics.median(predicted), "worst_abs_error": max(predicted),
            "ideal_median_abs_error": statistics.median(ideal), "ideal_worst_abs_error": max(ideal)}


def _beyond(results: list[dict], limit: float = 0.35) -> list[str]:
    """The predicted rows beyond ``limit``, named, with what is known of them."""
    far = [x for x in results if not x["calibration"] and abs(x["error"]) > limit]
    if not far:
        return [f"Every predicted row is within {limit:.0%}."]
    names = "; ".join(f"{x['runtime']} {x['hw']} {_label(x)} ({x['error'] * 100:+.1f} %)" for x in far)
    notes = []
    if any(x["runtime"] == "trtllm-0.13" and x["hw"] == "h100-sxm" and x["tp"] > 1 for x in far):
        h200 = [abs(x["error"]) for x in results if x["runtime"] == "trtllm-0.13" and x["hw"] == "h200" and x["tp"] > 1]
        notes.append("TensorRT-LLM 0.13's Llama 3.1 70B tensor-parallel rows on H100 are predicted from shares fitted "
                     "on the same release's GPT-J rows on H100 (TP 1), which run nearer the datasheet than its 70B TP "
                     "runs do: the published H100 and H200 TP 4 figures are equal at 128 / 128 (8,678 and 8,970 tok/s) "
                     "although the H200 has 43 % more bandwidth, and with the H200's own GPT-J-fitted shares its TP "
                     f"rows are predicted within {max(h200):.0%}.")
    if any(x["kind"] == "first_token" and x["tp"] > 1 for x in far):
        long = [abs(x["error"]) for x in results if x["kind"] == "first_token" and x["tp"] > 1 and x["isl"] > 128]
        notes.append("TensorRT-LLM 0.5's batch-1 first tokens of LLaMA 70B on four GPUs at 128 tokens are "
                     "latency-bound: 160 all-reduces of a few kilobytes per step, each timed at the synchronization "
                     "rounds of the contract's interconnect latency (5 us, an assumption), where the release's NCCL "
                     "all-reduce took longer; the same model's 2,048-token first tokens are within "
                     f"{max(long):.0%}.")
    return [f"Beyond {limit:.0%}: {names}. " + " ".join(notes) + " No tensor-parallel row is a calibration row."]


def _label(r: dict) -> str:
    batch = f"batch {r['batch']}, " if "batch" in r else ""
    lengths = f"{r['isl']} / {r['osl']}" if "osl" in r else f"{r['isl']} in"
    kind = {"static": "static", "inflight": f"in-flight, {r.get('requests', 0):,} req", "first_token": "first token",
            "latency": "latency"}[r["kind"]]
    return f"{r['model']}, {kind}, {batch}TP {r['tp']}, {lengths}"


def _fmt(v: float, unit: str) -> str:
    return f"{v:,.1f} {unit}" if unit == "ms" else f"{v:,.0f} {unit}"


def section(results: list[dict], sources: dict) -> list[str]:
    s = summary(results)
    out = ["### Runtime profiles against published LLM measurements", "",
           "Each row is predicted on the row's hardware contract under the runtime profile of the release that "
           "measured it (`hw_profiles/runtimes/`, docs/runtimes.md); *ideal* is the datasheet bound (runtime "
           "`ideal`). Rows marked **cal.** are the ones the runtime's hardware section names as its calibration "
           "(its fitted numbers come from them, `python benchmarks/validate_runtimes.py --calibrate`); every other "
           "row is a prediction no fitted number has seen. Sources: " + "; ".join(
               f"*{k}*: {v}" for k, v in sources.items()) + ".", "",
           f"**Predicted rows: {s['predicted_rows']}; median |error| {s['median_abs_error'] * 100:.1f} %, worst "
           f"{s['worst_abs_error'] * 100:.1f} %** (at the datasheet bound, runtime ideal: median "
           f"{s['ideal_median_abs_error'] * 100:.1f} %, worst {s['ideal_worst_abs_error'] * 100:.1f} %). "
           f"Calibration rows: {s['calibration_rows']}.", "", *_beyond(results), "",
           "| runtime | GPU | row | published | accelsim | error | ideal bound | error |",
           "|---|---|---|---|---|---|---|---|"]
    for x in results:
        cal = " **cal.**" if x["calibration"] else ""
        out.append(f"| {x['runtime']} | {x['hw']} | {_label(x)}{cal} | {_fmt(x['value'], x['unit'])} | "
                   f"{_fmt(x['ours'], x['unit'])} | {x['error'] * 100:+.1f} % | {_fmt(x['ideal'], x['unit'])} | "
                   f"{x['ideal_error'] * 100:+.1f} % |")
    return out + [""]


def parameters_section() -> list[str]:
    """Every runtime's numbers per hardware section, with their source or calibration rows."""
    from accelsim.runtime.loader import _builtin, list_runtimes

    out = ["### Runtime parameters and where they come from", "",
           "| runtime | hardware | GEMM share | DRAM share | attention share | K/V reads | launch | host / step | "
           "request set-up | all-reduce | source or calibration rows |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in list_runtimes():
        if name == "ideal":
            continue
        model = _builtin(name)
        for hw, section_ in model.hardware.items():
            rt = model.resolve(hw)
            gemm = ", ".join(f"{k} {v:.2f}" for k, v in rt.gemm_efficiency) or "1"
            where = ("calibrated on: " + ", ".join(f"`{c}`" for c in section_.calibration) if section_.calibration
                     else section_.source)
            out.append(f"| {name} | {hw} | {gemm} | {rt.dram_efficiency:.2f} | {rt.attention_share:.2f} | "
                       f"{rt.kv_reads} | {rt.kernel_launch_s * 1e6:g} us ({rt.cuda_graphs} graphs) | "
                       f"{rt.step_overhead_s * 1e3:.2f} ms | {rt.request_overhead_s * 1e3:.2f} ms | "
                       f"{rt.all_reduce.algorithm} | {where} |")
    return out + [""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true", help="refit the calibrated numbers and print them")
    ap.add_argument("--runtime", help="only this runtime")
    ap.add_argument("--json", metavar="PATH", help="also write every row's figures as JSON")
    args = ap.parse_args()
    sources, rows = load_rows()
    if args.runtime:
        rows = [r for r in rows if r["runtime"] == args.runtime]
    t0 = time.perf_counter()
    if args.calibrate:
        pairs = sorted({(r["runtime"], r["hw"]) for r in rows})
        for name, hw in pairs:
            cal = load_runtime(name, hw).calibration
            chosen = [r for r in rows if r["id"] in cal]
            if not chosen:
                continue
            fitted = calibrate(name, hw, chosen, log=lambda m: print(m, file=sys.stderr, flush=True))
            print(f"{name} / {hw}: " + ", ".join(f"{k} {v:.4g}" for k, v in fitted.items()), flush=True)
        return 0
    results = evaluate(rows, progress=lambda i, n, rid: print(f"[{i}/{n}] {rid}", file=sys.stderr, flush=True))
    if args.json:
        import json

        Path(args.json).write_text(json.dumps({"summary": summary(results), "rows": results}, indent=1))
    print("\n".join(parameters_section() + section(results, sources)))
    print(f"_{time.perf_counter() - t0:.0f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
