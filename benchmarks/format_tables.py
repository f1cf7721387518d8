"""What each number format computes and costs: all-MiniLM-L6-v2's sentence-embedding cosine per format on its
contract, and Llama-2-7B's prefill and decode time per format, each against the float baseline on the same
hardware.

Run: python benchmarks/format_tables.py [--write]   (--write records the tables in docs/formats.md)
About two minutes: the FP8 rows on h100-sxm run the reduced-precision (14-bit) accumulator bit by bit.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: (label, contract, weights intent, activations intent)
MINILM = [
    ("fp16 (baseline)", "h100-sxm", {"format": "fp16"}, {"format": "fp16"}),
    ("bf16", "h100-sxm", {"format": "bf16"}, {"format": "bf16"}),
    ("int8 W8A8 (per-channel weights)", "h100-sxm", {"bits": 8, "granularity": "per_channel"}, {"bits": 8}),
    ("fp8 E4M3, per-tensor scales", "h100-sxm", {"format": "fp8_e4m3"}, {"format": "fp8_e4m3"}),
    ("MXFP8 E4M3", "b200", {"format": "mxfp8_e4m3"}, {"format": "mxfp8_e4m3"}),
    ("MXFP4 weights, fp16 activations", "b200", {"format": "mxfp4"}, {"format": "fp16"}),
    ("MXFP4 weights, fp8 E4M3 activations", "b200", {"format": "mxfp4"}, {"format": "fp8_e4m3"}),
    ("NVFP4 weights and activations", "b200", {"format": "nvfp4"}, {"format": "nvfp4"}),
]

#: (label, --weights, --activations): accelsim llm's precisions
LLAMA = [("fp16 (baseline)", "fp16", None), ("fp8", "fp8", None), ("int8 W8A8", "int8", None),
         ("int4 weights, fp16 math (W4A16)", "int4", "fp16"), ("MXFP4 weights, fp8 math", "mxfp4", "fp8"),
         ("NVFP4", "nvfp4", None)]


def minilm_table() -> list[str]:
    from accelsim.engine import run
    from accelsim.hardware import load_profile
    from accelsim.loading import load_workload

    base = yaml.safe_load((ROOT / "workloads" / "minilm-l6.yaml").read_text())
    rows = ["| format | contract | cosine to float, mean | min | as run (weights / activations) | latency (ms) |",
            "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        for label, hw, weights, activations in MINILM:
            doc = {**base, "quant": {"weights": {"granularity": "per_tensor", **weights}, "activations": activations}}
            path = Path(d) / "minilm.yaml"
            path.write_text(yaml.safe_dump(doc))
            t0 = time.perf_counter()
            r = run(load_workload(path), load_profile(hw))
            e = r.summary()["end_to_end"]
            f = r.frame[r.frame["op"] == "linear"].iloc[0]
            rows.append(f"| {label} | {hw} | {e['mean']:.4f} | {e['min']:.4f} | {f['weight_type']} / "
                        f"{f['activation_type']} | {r.summary()['latency_s'] * 1e3:.3f} |")
            print(rows[-1], f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return rows


def llama_table() -> list[str]:
    from accelsim.cli import _llm_config
    from accelsim.hardware import load_profile
    from accelsim.timing.llm import model_llm

    rows = ["| format | contract | prefill 2048 (ms) | vs fp16 | decode step at 2048+128 (ms) | vs fp16 |",
            "|---|---|---|---|---|---|"]
    for hw in ("h100-sxm", "b200"):
        p = load_profile(hw)
        base = None
        for label, weights, activations in LLAMA:
            try:
                r = model_llm(p, _llm_config("llama2-7b", weights, "fp8", activations), prompt=2048, decode_steps=128)
            except ValueError as exc:
                rows.append(f"| {label} | {hw} | not run: {exc} | | | |")
                continue
            base = base or r
            rows.append(f"| {label} | {hw} | {r.prefill_s * 1e3:.2f} | {base.prefill_s / r.prefill_s:.2f}x | "
                        f"{r.tpot_s * 1e3:.3f} | {base.tpot_s / r.tpot_s:.2f}x |")
    return rows


def main() -> None:
    t0 = time.perf_counter()
    minilm, llama = minilm_table(), llama_table()
    text = "\n".join([
        "# Number formats: what each computes and costs", "",
        "Regenerate with `python benchmarks/format_tables.py --write`.", "",
        "## all-MiniLM-L6-v2 with its real weights, 12 sentences: sentence-embedding cosine to float", "",
        "The 36 linear layers run in the format on the contract (the graph path: `accelsim.graph.contract."
        "FloatContractLayer` for formats); attention matmuls, softmax, LayerNorm and GELU stay float, as in every "
        "MiniLM run. Element formats (fp8) take one scale per tensor from the calibration sentences' range; MX and "
        "NVFP4 take their block scales along K. FP8 on h100-sxm accumulates in the ~14-bit accumulator of "
        "Hopper's FP8 MMA (DeepSeek-V3 report), without promotion; fp16/bf16 accumulate in fp32; b200 in fp32.", "",
        *minilm, "",
        "## Llama-2-7B, batch 1, 2,048-token prompt + 128 output tokens, KV cache fp8 (timing: `accelsim llm`)", "",
        "Each format against the fp16 baseline on the same contract. Weights move at the format's bits (MXFP4 4.25, "
        "NVFP4 4.5 bits per element with their block scales); GEMMs run at the format's rate (h100-sxm: fp16 half "
        "the int8/fp8 rate; b200: fp4 twice fp8). h100-sxm has no FP4 math: the NVFP4 row is not run there.", "",
        *llama, "", f"_generated in {time.perf_counter() - t0:.0f} s_", ""])
    print(text)
    if "--write" in sys.argv:
        (ROOT / "docs" / "formats.md").write_text(text)


if __name__ == "__main__":
    main()
