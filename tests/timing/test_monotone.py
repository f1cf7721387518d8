"""More of any resource never makes a layer slower (property tests over random profiles and layers).

The mapper picks, among the tiles that fit, the combination the layer's pipeline finishes first
(accelsim.mapping.mapper._choose); more capacity only adds candidates, more bandwidth, units or clock only
speed every candidate up, so the chosen latency (in seconds) can only fall. Tolerance 0.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.hardware import list_profiles, load_profile
from accelsim.timing import layer_timing
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent

Q = LayerQuant(QuantIntent(), QuantIntent())
PROFILES = list_profiles()


def _seconds(layer, profile) -> float:
    return layer_timing(layer, profile, 8, 8).cycles / profile.clock_hz


def _more_sram(p, f):
    return dataclasses.replace(p, memory=(p.memory[0], *[dataclasses.replace(lv, bytes=lv.bytes * f)
                                                        for lv in p.memory[1:]]))


def _more_bandwidth(p, f, level):
    memory = list(p.memory)
    memory[level % len(memory)] = dataclasses.replace(memory[level % len(memory)],
                                                      bandwidth_Bps=memory[level % len(memory)].bandwidth_Bps * f)
    return dataclasses.replace(p, memory=tuple(memory))


def _more_units(p, f):
    """f times the units; per-core buffers (simd_dot / matrix: the innermost level is split among cores) grow
    with them, as a chip with more cores has more of them."""
    p2 = dataclasses.replace(p, array=dataclasses.replace(p.array, count=p.array.count * f))
    if p.array.kind != "systolic":
        p2 = dataclasses.replace(p2, memory=(*p.memory[:-1], dataclasses.replace(p.memory[-1], bytes=p.memory[-1].bytes * f)))
    return p2


layers = st.one_of(
    st.builds(lambda m, k, n: Layer(name="fc", op="linear", inputs=("x",), in_shapes=((m, k),), out_shape=(m, n),
                                    quant=Q),
              st.integers(1, 4096), st.integers(1, 8192), st.integers(1, 16384)),
    st.builds(lambda c, hw, o, r, s: Layer(name="conv", op="conv2d", inputs=("x",), in_shapes=((1, c, hw, hw),),
                                           out_shape=(1, o, (hw - r) // s + 1, (hw - r) // s + 1), quant=Q,
                                           kernel=(r, r), stride=(s, s)),
              st.integers(1, 256), st.integers(7, 112), st.integers(1, 512), st.sampled_from([1, 3]),
              st.sampled_from([1, 2])),
    st.builds(lambda h, m, k, n: Layer(name="mm", op="matmul", inputs=("a", "b"), in_shapes=((h, m, k), (h, k, n)),
                                       out_shape=(h, m, n), quant=Q),
              st.integers(1, 32), st.integers(1, 2048), st.integers(1, 256), st.integers(1, 2048)),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.sampled_from(PROFILES), layers, st.sampled_from([2, 4, 16]))
def test_more_sram_is_never_slower(name, layer, factor):
    p = load_profile(name)
    assert _seconds(layer, _more_sram(p, factor)) <= _seconds(layer, p)


@SETTINGS
@given(st.sampled_from(PROFILES), layers, st.sampled_from([1.5, 2, 8]), st.integers(0, 3))
def test_more_bandwidth_is_never_slower(name, layer, factor, level):
    p = load_profile(name)
    assert _seconds(layer, _more_bandwidth(p, factor, level)) <= _seconds(layer, p)


@SETTINGS
@given(st.sampled_from(PROFILES), layers, st.sampled_from([2, 4]))
def test_more_units_are_never_slower(name, layer, factor):
    p = load_profile(name)
    assert _seconds(layer, _more_units(p, factor)) <= _seconds(layer, p)


@SETTINGS
@given(st.sampled_from(PROFILES), layers, st.sampled_from([1.25, 2, 3]))
def test_a_higher_clock_is_never_slower(name, layer, factor):
    p = load_profile(name)
    assert _seconds(layer, dataclasses.replace(p, clock_hz=p.clock_hz * factor)) <= _seconds(layer, p)


def test_stream_k_fixup_traffic_does_not_make_more_cores_slower():
    """Found by the property above: on h100-sxm, 1153 x 567 x 13441 took 0.03 % longer with twice the SMs,
    because stream-K replaced the data-parallel schedule and its fix-up traffic grows with the core count. Both
    schedules are now candidates."""
    layer = Layer(name="fc", op="linear", inputs=("x",), in_shapes=((1153, 567),), out_shape=(1153, 13441), quant=Q)
    p = load_profile("h100-sxm")
    assert _seconds(layer, _more_units(p, 2)) <= _seconds(layer, p)
