"""The whole-network discrete-event model: prefetch overlap, DRAM contention, bounded events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.hardware import load_profile
from accelsim.loading import load_workload
from accelsim.timing import layer_timing
from accelsim.timing.fusion import plan_fusion
from accelsim.timing.network import CHUNKS, MAX_PREFETCH_PIECES, LayerCost, simulate_network, simulate_profile_network

BW = 1000.0  # bytes per cycle


def _cost(name, core, weights, stream, startup=100.0):
    # the layer alone: start-up, then the slower of its core work and its DRAM traffic (one-tile fill folded in)
    return LayerCost(name=name, cycles=startup + max(core, (weights + stream) / BW), startup_cycles=startup,
                     core_cycles=core, weight_bytes=weights, stream_bytes=stream, working_bytes=0)


def test_without_prefetch_the_network_is_the_sum_of_its_layers():
    layers = [_cost("a", 1000, 0, 100_000), _cost("b", 200, 2_000_000, 1000), _cost("c", 5000, 50_000, 0)]
    r = simulate_network(layers, BW, buffer_bytes=0)
    assert r.cycles == pytest.approx(sum(c.cycles for c in layers), rel=1e-12) and r.prefetched == ()
    assert r.isolated_cycles == pytest.approx(r.cycles, rel=1e-12)


def test_weights_prefetched_during_a_compute_bound_layer():
    """A compute-bound layer leaves DRAM idle: the next, weight-heavy layer's weights arrive meanwhile."""
    a, b = _cost("a", 50_000, 0, 10_000), _cost("b", 200, 2_000_000, 1000)
    r = simulate_network([a, b], BW, buffer_bytes=10_000_000)
    assert r.prefetched == ("b",)
    assert r.cycles < r.isolated_cycles - 1500          # b's 2,000 cycles of weights moved under a's compute
    assert r.cycles >= (a.core_cycles + b.core_cycles)  # no schedule beats the compute


def test_a_prefetch_cannot_beat_the_dram_bound():
    """Behind a memory-bound layer the prefetch only gets the idle gaps: DRAM stays the limit."""
    a, b = _cost("a", 100, 0, 3_000_000), _cost("b", 100, 3_000_000, 0)
    r = simulate_network([a, b], BW, buffer_bytes=10_000_000)
    assert r.cycles >= 6_000_000 / BW
    assert r.cycles <= r.isolated_cycles * 1.01


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1e6), st.integers(0, 5_000_000), st.integers(0, 5_000_000)),
                min_size=1, max_size=12), st.sampled_from([0, 1 << 20, 1 << 30]))
def test_bounds_and_bounded_events(specs, buffer):
    layers = [_cost(f"l{i}", core, w, s) for i, (core, w, s) in enumerate(specs)]
    r = simulate_network(layers, BW, buffer_bytes=buffer)
    total_bytes = sum(c.weight_bytes + c.stream_bytes for c in layers)
    assert r.cycles >= max(total_bytes / BW, sum(c.core_cycles for c in layers)) - 1e-6
    assert r.events <= len(layers) * (CHUNKS + MAX_PREFETCH_PIECES + 1)
    assert [name for name, _, _ in r.spans] == [c.name for c in layers]
    starts = [s for _, s, _ in r.spans]
    assert starts == sorted(starts)


@pytest.mark.parametrize("workload", ["resnet18", "bert-base-layer", "llama2-7b-decode"])
@pytest.mark.parametrize("profile", ["edge-npu-pot16", "h100-sxm", "tpu-v1"])
def test_bundled_workloads(workload, profile):
    w, p = load_workload(workload), load_profile(profile)
    fusion = plan_fusion(w.layers, p.fusion)
    timings = [(layer.name, layer_timing(layer, p, 8, 8, fusion=fusion[layer.name])) for layer in w.layers]
    r = simulate_profile_network(timings, p)
    dram = sum(t.dram_bytes for _, t in timings) / p.dram.bandwidth_Bps * p.clock_hz
    assert r.cycles >= dram - 1e-6
    assert r.cycles <= 1.05 * r.isolated_cycles  # interference costs little, overlap may save
    assert r.events <= len(w.layers) * (CHUNKS + MAX_PREFETCH_PIECES + 1)


def _on(name, core, stream, cores_busy, inputs=None, startup=100.0):
    return LayerCost(name=name, cycles=startup + max(core, stream / BW), startup_cycles=startup, core_cycles=core,
                     weight_bytes=0, stream_bytes=stream, working_bytes=0, inputs=inputs, cores_busy=cores_busy)


def test_independent_layers_share_the_cores_they_leave_idle():
    """Two compute-bound layers on half the cores each: independent, they run side by side; chained, one after the
    other; a third that needs every core waits for both (in-order dispatch)."""
    a, b = _on("a", 10_000, 1000, 2, inputs=()), _on("b", 10_000, 1000, 2, inputs=())
    side = simulate_network([a, b], BW, buffer_bytes=0, cores=4)
    assert side.concurrent == ("b",)
    assert side.cycles == pytest.approx(100 + 10_000, rel=1e-12)   # side by side: as long as one of them
    chained = simulate_network([a, _on("b", 10_000, 1000, 2, inputs=("a",))], BW, buffer_bytes=0, cores=4)
    assert chained.concurrent == () and chained.cycles == pytest.approx(2 * (100 + 10_000), rel=1e-3)
    one_core = simulate_network([a, b], BW, buffer_bytes=0, cores=1)   # a profile that runs one layer at a time
    assert one_core.concurrent == () and one_core.cycles == pytest.approx(chained.cycles, rel=1e-9)
    c = _on("c", 1000, 0, 0, inputs=())          # every core: waits for a and b although it reads neither
    r = simulate_network([a, b, c], BW, buffer_bytes=0, cores=4)
    spans = {name: (s, e) for name, s, e in r.spans}
    assert spans["c"][0] >= max(spans["a"][1], spans["b"][1])


def test_concurrent_memory_bound_layers_contend_for_dram():
    """Side by side, two memory-bound layers overlap their start-up but not their DRAM time: the shared engine moves
    one request at a time."""
    a, b = _on("a", 100, 2_000_000, 1, inputs=()), _on("b", 100, 2_000_000, 1, inputs=())
    r = simulate_network([a, b], BW, buffer_bytes=0, cores=2)
    assert r.concurrent == ("b",)
    assert r.cycles >= 4_000_000 / BW
    assert r.cycles < a.cycles + b.cycles                   # the second start-up hides under the first's streaming


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1e5), st.integers(0, 2_000_000), st.integers(0, 4),
                          st.lists(st.integers(0, 11), max_size=3), st.integers(0, 1_000_000)),
                min_size=1, max_size=12),
       st.sampled_from([1, 2, 4, 8]), st.sampled_from([0, 1 << 20, 1 << 30]))
def test_graph_schedules_respect_inputs_cores_and_dram(specs, cores, buffer):
    """Random layer graphs, with weight prefetch into a staging buffer of each size: every layer starts after its
    inputs, never before its predecessor (in-order dispatch), never with more cores held than exist; DRAM moves
    every byte exactly once (prefetched or streamed), and the buffer is whole again at the end."""
    import dataclasses

    layers = [dataclasses.replace(_on(f"l{i}", core, stream, busy, inputs=tuple(f"l{j}" for j in deps if j < i)),
                                  weight_bytes=weights)
              for i, (core, stream, busy, deps, weights) in enumerate(specs)]
    r = simulate_network(layers, BW, buffer_bytes=buffer, cores=cores)
    spans = {name: (s, e) for name, s, e in r.spans}
    total = sum(c.stream_bytes + c.weight_bytes for c in layers)
    assert r.cycles >= total / BW - 1e-6
    assert r.dram_busy_cycles <= total / BW + 1e-6      # no byte moved twice (a prefetch stops when its layer starts)
    for c in layers:
        assert all(spans[c.name][0] >= spans[d][1] - 1e-9 for d in c.inputs)      # after its inputs
        assert spans[c.name][1] - spans[c.name][0] >= c.startup_cycles + c.core_cycles - 1e-6
    # at no instant do the running layers hold more cores than the device has
    for c in layers:
        t = spans[c.name][0]
        held = sum(min(cores, x.cores_busy or cores) for x in layers if spans[x.name][0] <= t < spans[x.name][1])
        assert held <= cores
    starts = [spans[c.name][0] for c in layers]
    assert starts == sorted(starts)                                                # dispatched in order


def test_profiles_that_run_one_layer_at_a_time_do_not_overlap():
    import dataclasses

    from accelsim.engine import run
    from accelsim.runtime import IDEAL

    w = load_workload("bert-base-layer")
    h100 = load_profile("h100-sxm")
    graph = run(w, h100, timing_only=True, runtime=IDEAL).network   # concurrent layers: the runtime's
    serial = run(w, h100, timing_only=True, runtime=dataclasses.replace(IDEAL, concurrent_layers=False)).network
    assert {"k_proj", "v_proj"} <= set(graph["concurrent_layers"]) and serial["concurrent_layers"] == []
    assert graph["latency_s"] < serial["latency_s"]
