"""The serving simulation: conservation of requests, Little's law, KV-cache capacity, the policies, the cost
model's agreement with accelsim llm, tensor parallelism and the max-rate search."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim.hardware import load_profile
from accelsim.serve import ServeConfig, deploy, max_rate, parse_length, poisson_requests, simulate
from accelsim.serve.cost import IterationCosts, graph_batch
from accelsim.serve.traffic import Request
from accelsim.workload.llm import MODELS

FP16 = dataclasses.replace(MODELS["llama2-7b"], weight_bits=16, activation_bits=16, kv_cache_bits=16, math_format="fp16")
W4KV8 = dataclasses.replace(MODELS["llama2-7b"], weight_bits=4, activation_bits=8, kv_cache_bits=8, math_format="int8")


@pytest.fixture(scope="module")
def h100():
    return load_profile("h100-sxm")


def _traffic(rate, duration, seed=0, prompt="uniform:64,512", output="uniform:16,128"):
    return poisson_requests(rate, duration, parse_length(prompt, "p", "prompt_tokens"),
                            parse_length(output, "o", "output_tokens"), seed=seed)


@pytest.mark.parametrize("prefill", ["separate", "chunked"])
def test_conservation_littles_law_and_capacity(h100, prefill):
    dep = deploy(h100, FP16)
    r = simulate(dep, _traffic(8, 40, seed=3), ServeConfig(prefill=prefill), duration_s=40, drain=True)
    s = r.summary()
    assert s["requests_arrived"] == s["requests_completed"] + s["requests_in_flight"]
    assert s["requests_in_flight"] == 0                      # drained
    law = s["littles_law"]
    assert abs(law["mean_concurrency"] - law["throughput_x_latency"]) <= 0.02 * law["throughput_x_latency"]
    assert max(b for _, b in r.occupancy) <= r.capacity_blocks and s["kv_cache_peak_fraction"] <= 1.0
    assert all(q.first_token_s >= q.req.arrival_s and q.done_s >= q.first_token_s for q in r.requests)


def test_undrained_run_keeps_every_request(h100):
    dep = deploy(h100, FP16)
    s = simulate(dep, _traffic(30, 10, seed=1), ServeConfig(), duration_s=10).summary()
    assert s["requests_in_flight"] > 0
    assert s["requests_arrived"] == s["requests_completed"] + s["requests_in_flight"]


def test_small_cache_preempts_and_never_overflows(h100):
    """A device with room for ~40 sequences' KV, loaded past it: recompute preemptions happen, capacity holds,
    every request still finishes."""
    dep = deploy(h100, FP16)
    small = dataclasses.replace(dep, kv_blocks=40 * 40)   # 25,600 tokens
    r = simulate(small, _traffic(40, 10, seed=2, prompt="fixed:400", output="fixed:300"), ServeConfig(), duration_s=10,
                 drain=True)
    s = r.summary()
    assert s["preemptions"] > 0
    assert max(b for _, b in r.occupancy) <= small.kv_blocks
    assert s["requests_completed"] == s["requests_arrived"]
    assert all(q.generated == q.req.output for q in r.requests)


def test_static_batch_equals_accelsim_llm_for_one_full_batch(h100):
    """A static batch of 8 identical requests arriving together: TTFT is the batch's prefill and the whole run
    the prefill plus 127 decode steps, as accelsim llm times them (decode batch 8 is a captured graph size)."""
    from accelsim.timing.llm import model_llm

    dep = deploy(h100, FP16)
    reqs = [Request(i, 0.0, 512, 128) for i in range(8)]
    r = simulate(dep, reqs, ServeConfig(batch_policy="static", max_batch=8), duration_s=0.0, drain=True)
    llm = model_llm(h100, FP16, prompt=512, decode_steps=127, batch=8)
    ttft = r.requests[0].first_token_s
    # serving iterations are costed by parts (the step outside attention, each group's attention): within 1 %
    assert abs(ttft - llm.prefill_s) <= 0.01 * llm.prefill_s
    end = max(q.done_s for q in r.requests)
    # decode contexts are interpolated on a 256-token grid: within 1 % of the step-by-step figure
    assert abs(end - (llm.prefill_s + llm.decode_s)) <= 0.01 * (llm.prefill_s + llm.decode_s)


def test_graph_batch_sizes():
    assert [graph_batch(n) for n in (1, 2, 3, 4, 5, 8, 9, 255)] == [1, 2, 4, 4, 8, 8, 16, 256]


def test_quantized_weights_and_kv_hold_more_and_run_faster(h100):
    fp16, w4 = deploy(h100, FP16), deploy(h100, W4KV8)
    assert w4.kv_capacity_tokens > 2 * fp16.kv_capacity_tokens
    reqs = _traffic(12, 20, seed=4)
    a = simulate(fp16, reqs, ServeConfig(), duration_s=20, drain=True).summary()
    b = simulate(w4, reqs, ServeConfig(), duration_s=20, drain=True).summary()
    assert b["tpot_p50_s"] < a["tpot_p50_s"] and b["energy_per_token_j"] < a["energy_per_token_j"]


def test_tensor_parallel_shards_and_pays_for_all_reduce(h100):
    one, two = deploy(h100, FP16), deploy(h100, FP16, tp=2)
    assert two.weight_bytes < 0.51 * one.weight_bytes and two.kv_capacity_tokens > 2 * one.kv_capacity_tokens
    c1, c2 = IterationCosts(one), IterationCosts(two)
    s1, _ = c1.iteration([], 64, 1000, 64)
    s2, _ = c2.iteration([], 64, 1000, 64)
    assert s2 < s1
    # the all-reduces are in the iteration: a link 1,000x faster with no latency saves exactly their time
    fast = deploy(dataclasses.replace(h100, interconnect=(h100.interconnect[0] * 1e3, 0.0)), FP16, tp=2)
    s_fast, _ = IterationCosts(fast).iteration([], 64, 1000, 64)
    bw, lat = h100.interconnect
    nbytes = 64 * 4096 * 2               # 64 tokens' fp16 hidden states
    one_shot = (2 - 1) * nbytes / bw + lat  # faster than two-shot (2 (tp-1)/tp nbytes / bw + 2 lat) at this size
    assert one_shot < 2 * (2 - 1) / 2 * nbytes / bw + 2 * lat
    per_block = 2 * one_shot - 2 * (nbytes / (bw * 1e3))
    assert s2 - s_fast == pytest.approx(32 * per_block, rel=1e-3)
    no_link = dataclasses.replace(h100, interconnect=None)
    with pytest.raises(Exception, match="interconnect"):
        deploy(no_link, FP16, tp=2)


def test_max_rate_search_is_monotone_in_the_target(h100):
    dep = deploy(h100, W4KV8)
    p, o = parse_length("fixed:256", "p", "prompt_tokens"), parse_length("fixed:64", "o", "output_tokens")
    tight = max_rate(dep, p, o, slo_ttft_s=0.05, duration_s=10, start=4.0)
    loose = max_rate(dep, p, o, slo_ttft_s=0.5, duration_s=10, start=4.0)
    assert 0 < tight["rate"] <= loose["rate"]
    assert tight["ttft_p99_s"] <= 0.05
    rates = [x["rate"] for x in tight["probes"] if x["ok"]]
    assert max(rates) == tight["rate"]


def test_no_device_memory_is_an_error():
    from accelsim.errors import InputError

    with pytest.raises(InputError, match="device memory"):
        deploy(load_profile("ethos-u55"), FP16)
    with pytest.raises(InputError, match="no room for a KV cache"):
        deploy(load_profile("h100-sxm"), dataclasses.replace(MODELS["llama2-70b"], weight_bits=16))


def test_memory_fraction_sizes_the_kv_cache():
    from accelsim.errors import InputError

    p = load_profile("h100-sxm")
    vllm, whole = deploy(p, FP16), deploy(p, FP16, memory_fraction=1.0)
    extra = 0.1 * p.dram.bytes // (whole.kv_bytes_per_token * whole.block_tokens)
    assert whole.kv_blocks - vllm.kv_blocks in (extra, extra + 1)
    assert whole.as_dict()["memory_fraction"] == 1.0
    with pytest.raises(InputError, match="memory fraction"):
        deploy(p, FP16, memory_fraction=0.0)


@pytest.mark.parametrize("hw, model, tp", [("h100-sxm", "llama2-7b", 1), ("a100-80gb", "llama3.1-70b", 4),
                                           ("h100-sxm", "gptj-6b", 1)])
def test_iterations_by_parts_within_1_5_percent_of_the_whole_step(hw, model, tp):
    """IterationCosts adds the step outside attention (by token count) and each group's attention (on grids); the
    whole step timed at once (accelsim.timing.llm.iteration_cost, as accelsim llm) differs by at most 1.5 % on
    decode batches, prefill chunks and mixes."""
    import dataclasses

    from accelsim.hardware import load_profile
    from accelsim.timing.llm import iteration_cost
    from accelsim.workload.llm import MODELS

    cfg = dataclasses.replace(MODELS[model], weight_bits=16, activation_bits=16, kv_cache_bits=16, math_format="fp16")
    costs = IterationCosts(deploy(load_profile(hw), cfg, tp=tp))
    t = costs.timers
    cases = [([], 64, 512, 64), ([], 256, 1024, 256), ([(512, 512)], 32, 256, 33), ([(128, 128)] * 8, 0, 0, 8),
             ([(2048, 2048)], 0, 0, 1), ([], 8, 2048, 8)]
    for prefill, batch, context, logits in cases:
        ours, _ = costs.iteration(prefill, batch, context, logits)
        groups = [(n, c, 1) for n, c in prefill] if len(set(prefill)) > 1 else (
            [(prefill[0][0], prefill[0][1], len(prefill))] if prefill else [])
        if batch:
            groups.append((1, context, graph_batch(batch) if not prefill else batch))
        profile, timer = (t.decode_profile, t.decode) if not prefill else (t.profile, t.prefill)
        whole = iteration_cost(timer, costs.cfg, profile, tuple(sorted(groups)), logits).cycles / profile.clock_hz
        assert abs(ours / whole - 1) <= 0.015, (prefill, batch, context, ours, whole)


@pytest.mark.parametrize("isl, osl", [(128, 128), (512, 256)])
def test_max_throughput_extrapolation_within_2_percent_of_the_full_run(isl, osl):
    """accelsim.serve.max_throughput simulates 2 and 4 waves of requests and extrapolates linearly in the request
    count: against the whole run of 12 waves it is within 2 % (TensorRT-LLM's guaranteed admission: no preemption)."""

    from accelsim.runtime import IDEAL, SchedulerSpec
    from accelsim.serve.max_throughput import benchmark_limits, max_throughput

    rt = dataclasses.replace(IDEAL, scheduler=SchedulerSpec(memory_fraction=0.95, memory_of="free",
                                                             admission="guaranteed"))
    cfg = dataclasses.replace(MODELS["llama2-7b"], weight_bits=16, activation_bits=16, kv_cache_bits=16,
                              math_format="fp16")
    dep = deploy(load_profile("a100-80gb"), cfg, runtime=rt)
    batch, tokens = benchmark_limits(dep, isl, osl)
    wave = min(batch, dep.kv_capacity_tokens // (isl + osl))
    n = 12 * wave + wave // 3
    fast = max_throughput(dep, isl, osl, n)
    assert fast["simulated_requests"] < n
    config = ServeConfig(prefill="chunked", max_batch=batch, chunk_tokens=tokens, max_batch_tokens=tokens,
                         admission="guaranteed")
    full = simulate(dep, [Request(i, 0.0, isl, osl) for i in range(n)], config, duration_s=0.0, drain=True)
    assert fast["throughput_tokens_per_s"] == pytest.approx(n * osl / full.end_s, rel=0.02)


def test_guaranteed_admission_never_preempts():
    """TensorRT-LLM's GUARANTEED_NO_EVICT: a request starts only when its whole KV cache is free, so a full cache
    never preempts; vLLM's admission on the prompt does when outputs grow."""
    from accelsim.runtime import IDEAL

    cfg = dataclasses.replace(MODELS["llama2-7b"], weight_bits=16, activation_bits=16, kv_cache_bits=16,
                              math_format="fp16")
    dep = deploy(load_profile("a100-80gb"), cfg, runtime=IDEAL)
    n = 2 * dep.kv_capacity_tokens // (512 + 1024)
    reqs = [Request(i, 0.0, 512, 1024) for i in range(n)]
    runs = {a: simulate(dep, reqs, ServeConfig(prefill="chunked", max_batch=4096, admission=a), duration_s=0.0,
                        drain=True) for a in ("guaranteed", "max_utilization")}
    assert runs["guaranteed"].preemptions == 0 < runs["max_utilization"].preemptions
    assert all(s.done_s is not None for r in runs.values() for s in r.requests)
