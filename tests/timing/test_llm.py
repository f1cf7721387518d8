"""Whole-model LLM timing: prefill + decode over a growing KV cache; precision options."""

import dataclasses

import pytest

from accelsim.hardware import load_profile
from accelsim.timing.llm import model_llm
from accelsim.workload.llm import LLAMA2_7B


def test_decode_reads_more_as_the_cache_grows_and_blocks_scale_linearly():
    p = load_profile("tensorcore-int8")
    short = model_llm(p, LLAMA2_7B, prompt=128, decode_steps=4)
    long = model_llm(p, LLAMA2_7B, prompt=4096, decode_steps=4)
    assert long.decode.dram_bytes > short.decode.dram_bytes
    half = model_llm(p, dataclasses.replace(LLAMA2_7B, layers=16), prompt=128, decode_steps=4)
    assert half.decode.cycles * 2 == pytest.approx(short.decode.cycles, rel=1e-9)
    assert short.summary()["decode_projection_regime"] == "memory-bound"
    assert short.summary()["prefill_projection_regime"] == "compute-bound" or short.prompt < 512


def test_int4_weights_and_fp16_cache_change_the_bytes():
    p = load_profile("tensorcore-int8")
    base = model_llm(p, LLAMA2_7B, prompt=512, decode_steps=8)
    w4 = model_llm(p, dataclasses.replace(LLAMA2_7B, weight_bits=4), prompt=512, decode_steps=8)
    kv16 = model_llm(p, dataclasses.replace(LLAMA2_7B, kv_cache_bits=16), prompt=512, decode_steps=8)
    assert w4.decode.dram_bytes < 0.6 * base.decode.dram_bytes
    assert w4.decode_tokens_per_s > 1.6 * base.decode_tokens_per_s
    assert kv16.decode.dram_bytes > base.decode.dram_bytes


def test_decode_steps_are_counted():
    p = load_profile("tpu-v1")
    r = model_llm(p, LLAMA2_7B, prompt=64, decode_steps=3)
    one = model_llm(p, LLAMA2_7B, prompt=64, decode_steps=1)
    assert r.decode.cycles > 2.9 * one.decode.cycles
    with pytest.raises(ValueError):
        model_llm(p, LLAMA2_7B, prompt=0)
