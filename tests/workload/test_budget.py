"""The memory estimate that refuses a run up front (accelsim.workload.budget) is an upper bound of what the run
allocates (numpy's allocations, traced by tracemalloc), and not a wild one: within 2.5x on input-, output- and
weight-heavy layers and a convolution (issue 27: a weight-heavy layer was under-estimated by a third)."""

from __future__ import annotations

import textwrap
import tracemalloc

import pytest

from accelsim.engine import run
from accelsim.hardware import load_profile
from accelsim.loading import load_workload
from accelsim.workload.budget import execute_memory_bytes

CASES = {
    "input-heavy": "inputs: {x: {shape: [64, 40000]}}\nlayers: [{name: fc, op: linear, out_features: 16}]",
    "output-heavy": "inputs: {x: {shape: [64, 16]}}\nlayers: [{name: fc, op: linear, out_features: 40000}]",
    "weight-heavy": "inputs: {x: {shape: [64, 1500]}}\nlayers: [{name: fc, op: linear, out_features: 1500}]",
    "conv": "inputs: {x: {shape: [2, 16, 48, 48]}}\n"
            "layers: [{name: c, op: conv2d, out_channels: 32, kernel: 3, padding: 1}]",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_estimate_bounds_the_traced_peak(case, tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(f"name: {case}\n" + textwrap.dedent(CASES[case]) + "\n")
    workload, profile = load_workload(str(path)), load_profile("tensorcore-int8")
    run(workload, profile)  # compiles the kernels first: their memory is not the run's
    tracemalloc.start()
    try:
        run(workload, profile)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate, _ = execute_memory_bytes(workload)
    assert peak <= estimate <= 2.5 * peak, (peak, estimate)
