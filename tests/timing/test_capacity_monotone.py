"""More on-chip capacity is never slower (issue 23's probes, tolerance 0): a vector op's tiles were half the
on-chip buffer, so a larger buffer gave fewer, longer tiles and a longer pipeline fill (b200's SMEM x 1.25: an
LLM prefill 0.2 % slower). A streaming vector kernel now has one tile per pass of its lanes."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim.hardware import load_profile
from accelsim.timing.llm import model_llm
from accelsim.workload.llm import MODELS

FORMATS = {"fp8": (8, 8, "fp8_e4m3"), "fp16": (16, 16, "fp16"), "mxfp4": (4, 8, "mxfp4")}


def _more(profile, level: int, field: str, factor: float):
    memory = list(profile.memory)
    lv = memory[level]
    value = getattr(lv, field)
    memory[level] = dataclasses.replace(lv, **{field: int(value * factor) if isinstance(value, int) else value * factor})
    return dataclasses.replace(profile, memory=tuple(memory))


@pytest.mark.parametrize("hw, fmt, model, batch, prompt", [
    ("b200", "fp8", "llama2-7b", 16, 512), ("b200", "fp8", "llama2-13b", 1, 2048),
    ("h100-sxm", "fp8", "llama2-7b", 16, 512), ("a100-80gb", "fp16", "llama2-13b", 1, 2048),
    ("b200", "mxfp4", "llama2-13b", 1, 2048),
])
def test_more_on_chip_capacity_is_never_slower(hw, fmt, model, batch, prompt):
    w, a, math_format = FORMATS[fmt]
    cfg = dataclasses.replace(MODELS[model], weight_bits=w, activation_bits=a, kv_cache_bits=8 if w < 16 else 16,
                              math_format=math_format)
    base = load_profile(hw)
    ref = model_llm(base, cfg, prompt=prompt, decode_steps=8, batch=batch).summary()
    for level in range(1, len(base.memory)):
        for factor in (1.25, 2.0):
            r = model_llm(_more(base, level, "bytes", factor), cfg, prompt=prompt, decode_steps=8,
                          batch=batch).summary()
            assert r["ttft_s"] <= ref["ttft_s"] and r["tpot_s"] <= ref["tpot_s"], (level, factor, ref, r)
