"""The mapper's objective (a runtime's compiler choice): latency with energy breaking ties, energy, or energy x delay.
Each objective is the best of the candidates by its own measure, so against one another: the latency choice is never
slower, the energy choice never costs more movement and static energy."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim.hardware import load_profile
from accelsim.timing import layer_timing
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent

SHAPES = [(4096, 3072, 768), (1, 4096, 4096), (512, 768, 768), (128, 11008, 4096), (2048, 4096, 14336)]


def _layer(m, k, n):
    return Layer(name="fc", op="linear", inputs=("x",), in_shapes=((m, k),), out_shape=(m, n),
                 quant=LayerQuant(QuantIntent(), QuantIntent()))


def _movement_pj(t, profile):
    levels = {lv.name: lv for lv in profile.memory}
    parent = {lv.name: profile.memory[i].name for i, lv in enumerate(profile.memory[1:])}
    moved = sum(nbytes * levels[parent[name]].energy_pj_per_byte for name, nbytes in t.level_bytes if name in parent)
    return moved + t.cycles * profile.energy.static_power_w / profile.clock_hz * 1e12


@pytest.mark.parametrize("hw", ["h100-sxm", "a100-80gb", "tpu-v1", "edge-npu-pot16", "arm-neon-sdot"])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_objective_is_best_by_its_own_measure(hw, shape):
    base = load_profile(hw)
    by = {o: layer_timing(_layer(*shape), dataclasses.replace(base, mapping_objective=o), 8, 8)
          for o in ("latency", "energy", "edp")}
    profiles = {o: dataclasses.replace(base, mapping_objective=o) for o in by}
    pj = {o: _movement_pj(t, profiles[o]) for o, t in by.items()}
    assert by["latency"].cycles <= by["energy"].cycles and by["latency"].cycles <= by["edp"].cycles
    assert pj["energy"] <= pj["latency"] * (1 + 1e-12) and pj["energy"] <= pj["edp"] * (1 + 1e-12)
    edp = {o: pj[o] * by[o].cycles for o in by}
    assert edp["edp"] <= min(edp.values()) * (1 + 1e-12)


def test_the_runtime_sets_the_objective(tmp_path):
    from accelsim.runtime import load_runtime

    f = tmp_path / "r.yaml"
    f.write_text("name: frugal\nsource: a test\ndefaults: {mapping_objective: energy}\n")
    assert load_runtime(str(f), "h100-sxm").apply(load_profile("h100-sxm")).mapping_objective == "energy"
