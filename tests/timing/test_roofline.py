"""Simulated latency against closed-form roofline bounds; the TPU v1 paper's roofline; LLM regimes."""

from __future__ import annotations

import math

import pytest

from accelsim.hardware import list_profiles, load_profile
from accelsim.loading import load_workload
from accelsim.timing import layer_timing
from accelsim.timing.scalesim_compat import scalesim_layer
from accelsim.workload.llm import LLAMA2_7B, decoder_block, kv_cache_operand


@pytest.mark.parametrize("profile", list_profiles())
@pytest.mark.parametrize("workload", ["mlp", "resnet18", "bert-base-layer", "llama2-7b-decode"])
def test_latency_never_beats_the_roofline(profile, workload):
    p = load_profile(profile)
    for layer in load_workload(workload).layers:
        t = layer_timing(layer, p, 8, 8)
        compute_bound = math.ceil(layer.macs / p.peak_macs_per_cycle) if layer.is_mac else 0
        memory_bound = t.dram_bytes / p.dram.bandwidth_Bps * p.clock_hz
        assert t.cycles >= compute_bound, layer.name
        assert t.cycles >= memory_bound - 1, layer.name
        assert t.cycles >= t.compute_cycles


def test_tpu_v1_peak_and_ridge_point():
    p = load_profile("tpu-v1")
    assert p.peak_ops_per_s == pytest.approx(92e12, rel=0.01)
    assert p.ridge_point == pytest.approx(1350, rel=0.01)  # MACs per weight byte, the paper's convention


# Jouppi et al., ISCA 2017, Table 3 / Figure 5: operational intensity (MAC ops per weight byte)
TPU_APPS = {"MLP0": 200, "MLP1": 168, "LSTM0": 64, "LSTM1": 96, "CNN0": 2888, "CNN1": 1750}


@pytest.mark.parametrize("app,intensity", TPU_APPS.items())
def test_tpu_v1_roofline_bound_of_the_papers_applications(app, intensity):
    p = load_profile("tpu-v1")
    bound_tops = min(p.peak_ops_per_s, 2 * intensity * p.dram.bandwidth_Bps) / 1e12
    expected = {"MLP0": 13.6, "MLP1": 11.4, "LSTM0": 4.35, "LSTM1": 6.5, "CNN0": 92.0, "CNN1": 92.0}[app]
    assert bound_tops == pytest.approx(expected, rel=0.02)
    # a weight-bound layer at that intensity (batch = intensity rows reuse each int8 weight): the
    # simulation never beats the bound, and memory-bound apps land within 10% of it
    layer = scalesim_layer("gemm", (intensity, 2048, 2048))
    t = layer_timing(layer, p, 8, 8)
    achieved_tops = 2 * layer.macs / (t.cycles / p.clock_hz) / 1e12
    assert achieved_tops <= bound_tops * 1.001
    if intensity < p.ridge_point:
        assert achieved_tops >= 0.9 * bound_tops * (layer.macs / intensity) / t.dram_bytes
        assert t.memory_bound


def _block_timings(profile, tokens, context):
    return [(layer, layer_timing(layer, profile, 8, 8, b_bits=8 if kv_cache_operand(layer) else None))
            for layer in decoder_block(LLAMA2_7B, tokens, context)]


def test_decode_is_memory_bound_and_prefill_compute_bound_on_tensorcore():
    p = load_profile("tensorcore-int8")
    decode = _block_timings(p, 1, 2048)
    prefill = _block_timings(p, 2048, 2048)
    assert all(t.memory_bound for layer, t in decode if layer.op == "linear")
    assert not any(t.memory_bound for layer, t in prefill if layer.op == "linear")


@pytest.mark.parametrize("profile", ["tensorcore-int8", "a100-80gb", "h100-sxm"])
def test_decode_step_within_10_percent_of_weight_and_kv_bytes_over_bandwidth(profile):
    """A whole-model decode step (blocks, embedding row, lm_head) reads every weight and the KV cache once."""
    from accelsim.timing.llm import model_llm

    p = load_profile(profile)
    cfg = LLAMA2_7B
    ctx = 2048
    r = model_llm(p, cfg, prompt=ctx - 1, decode_steps=1)
    weights = cfg.layers * cfg.weight_bytes_per_block() + cfg.vocab * cfg.hidden * cfg.weight_bits // 8
    floor = (weights + cfg.layers * ctx * cfg.kv_bytes_per_token()) / p.dram.bandwidth_Bps
    assert floor <= r.tpot_s <= 1.10 * floor, (r.tpot_s, floor)


def test_bundled_workloads_mark_the_regimes():
    p = load_profile("tensorcore-int8")
    for name, regime in (("llama2-7b-decode", True), ("llama2-7b-prefill", False)):
        wl = load_workload(name)
        for layer in wl.layers:
            if layer.name.endswith("_proj"):
                assert layer_timing(layer, p, 8, 8).memory_bound is regime, (name, layer.name)
