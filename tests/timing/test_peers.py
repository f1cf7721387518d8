"""accelsim's whole-model LLM timing beside outside references (recorded; regenerate with benchmarks/).

- GenZ (genz-llm 0.0.16, its own venv: benchmarks/genz_reference.py), the same peak and bandwidth, efficiency 1:
  prefill within 15 % at 512 and 2048 tokens. GenZ has no kernel-launch cost, so accelsim runs without it here.
- TensorRT-LLM v0.5's published batch-1 first-token latencies for LLaMA 7B on H100 (FP8: the same dense rate
  and 1-byte operands as int8): the 128 -> 2048 growth within 25 % of the measured 36 / 7 ms.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from accelsim.hardware import load_profile
from accelsim.timing.llm import model_llm
from accelsim.workload.llm import MODELS

GENZ = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "genz_reference.json").read_text())
#: TensorRT-LLM docs/source/performance.md (release 0.6.1, "Low Latency", data from v0.5), H100 FP8, LLaMA 7B
TRTLLM_H100_FIRST_TOKEN_MS = {128: 7.0, 2048: 36.0}


@pytest.mark.parametrize("profile", ["a100-80gb", "h100-sxm"])
@pytest.mark.parametrize("tokens", [512, 2048])
def test_prefill_within_15_percent_of_genz(profile, tokens):
    p = dataclasses.replace(load_profile(profile), kernel_launch_s=0.0)  # GenZ's settings: no launch cost
    ours = model_llm(p, MODELS["llama2-7b"], prompt=tokens, decode_steps=0).prefill_s * 1e3
    theirs = GENZ["prefill_ms"][profile][str(tokens)]
    assert abs(ours / theirs - 1) <= 0.15, (ours, theirs)


def test_prefill_growth_within_25_percent_of_trtllm_on_h100():
    p = load_profile("h100-sxm")
    t = {n: model_llm(p, MODELS["llama2-7b"], prompt=n, decode_steps=0).prefill_s for n in TRTLLM_H100_FIRST_TOKEN_MS}
    ours = t[2048] / t[128]
    published = TRTLLM_H100_FIRST_TOKEN_MS[2048] / TRTLLM_H100_FIRST_TOKEN_MS[128]
    assert abs(ours / published - 1) <= 0.25, (ours, published)
