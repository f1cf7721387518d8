"""Whole-model LLM timing: prefill + decode over a growing KV cache; precision options."""

import dataclasses

import pytest

from accelsim.hardware import load_profile
from accelsim.timing.llm import model_llm
from accelsim.workload.llm import LLAMA2_7B


def test_decode_reads_more_as_the_cache_grows_and_blocks_scale_linearly():
    p = load_profile("tensorcore-int8")
    blocks_only = dataclasses.replace(LLAMA2_7B, vocab=0)  # no embedding / lm_head: the blocks alone
    short = model_llm(p, blocks_only, prompt=128, decode_steps=4)
    long = model_llm(p, blocks_only, prompt=4096, decode_steps=4)
    assert long.decode.dram_bytes > short.decode.dram_bytes
    half = model_llm(p, dataclasses.replace(blocks_only, layers=16), prompt=128, decode_steps=4)
    assert half.decode.cycles * 2 == short.decode.cycles  # every block timed once, times the block count: exact
    assert short.summary()["decode_projection_regime"] == "memory-bound"
    # 128 prompt tokens: 128 MACs per weight byte, below A100's ridge point (~200): the projections wait on HBM
    assert short.summary()["prefill_projection_regime"] == "memory-bound"
    assert model_llm(p, blocks_only, prompt=2048, decode_steps=1).summary()["prefill_projection_regime"] == "compute-bound"


def test_embedding_and_lm_head_are_counted():
    p = load_profile("a100-80gb")
    with_head = model_llm(p, LLAMA2_7B, prompt=64, decode_steps=2)
    blocks = model_llm(p, dataclasses.replace(LLAMA2_7B, vocab=0), prompt=64, decode_steps=2)
    # lm_head: 32000 x 4096 int8 weights read on every step; embedding rows gathered
    assert with_head.decode.dram_bytes - blocks.decode.dram_bytes >= 2 * 32000 * 4096
    assert with_head.decode.macs - blocks.decode.macs == 2 * 32000 * 4096


def test_batch_reads_the_weights_once_and_the_kv_per_sequence():
    p = load_profile("h100-sxm")
    one = model_llm(p, LLAMA2_7B, prompt=512, decode_steps=4, batch=1)
    eight = model_llm(p, LLAMA2_7B, prompt=512, decode_steps=4, batch=8)
    kv_step = 512 * LLAMA2_7B.kv_bytes_per_token() * LLAMA2_7B.layers  # one sequence's cache, read per step
    weights = LLAMA2_7B.weight_bytes_per_block() * LLAMA2_7B.layers
    # decode: the weights once per step, the KV cache per sequence
    assert eight.decode.dram_bytes - one.decode.dram_bytes >= 4 * 7 * kv_step
    assert eight.decode.dram_bytes < 4 * (weights + 9 * kv_step) * 1.1
    assert eight.tpot_s < 1.5 * one.tpot_s  # decode is memory-bound: 8 sequences a step cost little more than 1
    assert eight.tokens_per_s == pytest.approx(8 * 5 / (eight.prefill_s + eight.decode_s))
    s = eight.summary()
    for key in ("ttft_s", "tpot_s", "tokens_per_s", "energy_per_token_j", "prefill_binding_resource",
                "decode_binding_resource"):
        assert key in s
    assert s["decode_binding_resource"] == "hbm3" and s["prefill_binding_resource"] == "compute"


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


def test_decode_runs_in_the_network_simulation():
    """The blocks of a decode step run in the whole-network simulation: the next layer's weights stream in during
    the current layer's start-up, so a step is shorter than its layers one after another, yet never shorter than
    its DRAM bytes at the full bandwidth."""
    from accelsim.timing.fusion import plan_fusion
    from accelsim.timing.llm import DECODE_SIMULATIONS, _kv_write, _Timer, block_graph, block_overlap
    from accelsim.workload.llm import decoder_block

    p = load_profile("h100-sxm")
    steps = 8  # <= DECODE_SIMULATIONS: every step simulated, nothing interpolated
    assert steps <= DECODE_SIMULATIONS
    r = model_llm(p, LLAMA2_7B, prompt=256, decode_steps=steps)
    assert r.decode.overlap_cycles > 0
    p = dataclasses.replace(p, kernel_launch_s=0.0) if p.decode_graphs else p  # decode runs as CUDA graphs
    timer = _Timer(p, LLAMA2_7B)
    expected = 0.0
    for step in range(steps):
        layers = decoder_block(LLAMA2_7B, 1, 256 + step + 1, 1)
        fusion = plan_fusion(layers, p.fusion)
        timings = [(layer.name, timer(layer, fusion[layer.name])[0]) for layer in layers]
        timings.append(("kv_write", _kv_write(p, LLAMA2_7B, 1)))
        expected += block_overlap(p, timings, LLAMA2_7B.layers, block_graph(layers))
    assert r.decode.overlap_cycles == pytest.approx(expected, rel=1e-12)
    floor = r.decode.dram_bytes / p.dram.bandwidth_Bps * p.clock_hz
    assert floor < r.decode.cycles < r.decode.cycles + r.decode.overlap_cycles


def test_grouped_query_attention_reads_each_kv_head_once_per_group():
    """Llama-3-8B (32 query heads, 8 KV heads): GQA-aware kernels read each K/V head once for its 4 query heads
    (the group's rows are one GEMM's M); one-block-per-query-head kernels read it 4 times. Same MACs either way."""
    import dataclasses

    from accelsim.mapping.gemm import gemm_view
    from accelsim.workload.llm import MODELS, decoder_block

    cfg = dataclasses.replace(MODELS["llama3-8b"], kv_cache_bits=8)
    batch, context = 3, 1000
    layers = {kv_reads: {layer.name: layer for layer in decoder_block(dataclasses.replace(cfg, kv_reads=kv_reads), 1,
                                                                       context, batch)}
              for kv_reads in ("per_kv_head", "per_query_head")}
    grouped, per_head = (gemm_view(layers[k]["scores"]) for k in ("per_kv_head", "per_query_head"))
    assert grouped.b_elements == batch * 8 * context * 128          # every KV head once
    assert per_head.b_elements == 4 * grouped.b_elements           # once per query head
    assert grouped.macs == per_head.macs == batch * 32 * context * 128
    assert (gemm_view(layers["per_kv_head"]["context"]).macs == gemm_view(layers["per_query_head"]["context"]).macs)
