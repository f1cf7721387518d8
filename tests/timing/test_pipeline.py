"""The SimPy tile pipeline against the closed form of a double-buffered two-stage pipeline."""

import math

import pytest

from accelsim.timing.pipeline import MAX_GROUPS, simulate_layer


@pytest.mark.parametrize("tiles,d,c", [(1, 10, 7), (2, 10, 7), (5, 3, 11), (20, 8, 8), (MAX_GROUPS + 2, 5, 2)])
def test_small_pipelines_are_exact(tiles, d, c):
    r = simulate_layer(tiles, compute_cycles=c * tiles, transfer_cycles=[d * tiles], latency_cycles=0)
    # fill (one transfer), then one max(d, c) per tile, then the last compute
    assert r.cycles == d + (tiles - 1) * max(d, c) + c
    assert r.compute_cycles == c * tiles
    assert r.stall_cycles == r.cycles - c * tiles


@pytest.mark.parametrize("tiles", [10**3, 10**5, 10**7])
def test_events_are_bounded_and_aggregation_error_small(tiles):
    d, c = 3.0, 2.0
    r = simulate_layer(tiles, compute_cycles=c * tiles, transfer_cycles=[d * tiles], latency_cycles=100)
    exact = 100 + d + (tiles - 1) * max(d, c) + c
    assert r.events <= 3 * (MAX_GROUPS + 3)
    assert exact <= r.cycles <= exact * (1 + 1 / MAX_GROUPS) + 1


def test_slowest_level_sets_the_pace_and_latency_shows_once():
    r = simulate_layer(100, compute_cycles=100, transfer_cycles=[1000, 5000], latency_cycles=50)
    assert 5000 + 50 <= r.cycles <= 5000 + 50 + 2 * 50 + 1


def test_compute_bound_pipeline_hides_transfers():
    r = simulate_layer(64, compute_cycles=64_000, transfer_cycles=[6_400], latency_cycles=0)
    assert r.cycles == math.ceil(100 + 64_000)
