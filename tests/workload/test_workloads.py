"""Workload loading: bundled workloads, shape inference, chaining and sampling rules."""

import pytest

from accelsim.errors import InputError
from accelsim.loading import load_workload
from accelsim.workload import list_workloads
from tests.conftest import TINY_WORKLOAD


def test_bundled_workloads():
    assert set(list_workloads()) >= {"mlp", "resnet18", "bert-base-layer", "llama2-7b-prefill", "llama2-7b-decode"}
    bert = load_workload("bert-base-layer")
    shapes = {layer.name: layer.out_shape for layer in bert.layers}
    assert shapes["scores"] == (12, 128, 128) and shapes["context"] == (128, 768)
    llama = load_workload("llama2-7b-decode")
    q = {layer.name: layer for layer in llama.layers}
    assert q["scores"].gemm == (32, 1, 128, 2048) and q["context"].gemm == (32, 1, 2048, 128)
    assert q["gate_proj"].macs == 4096 * 11008
    assert q["probs"].scale == pytest.approx(128 ** -0.5)
    resnet = load_workload("resnet18")
    assert resnet.layers[0].out_shape == (1, 64, 112, 112) and resnet.layers[-1].out_shape == (1, 512, 7, 7)


def test_conv_shape_inference(write):
    w = load_workload(write("w.yaml", """\
        name: c
        inputs: {x: {shape: [2, 6, 10, 9]}}
        layers:
          - {name: c1, op: conv2d, out_channels: 4, kernel: [3, 2], stride: [2, 1], padding: [1, 0, 0, 1], dilation: 2, groups: 2}
        """))
    layer = w.layers[0]
    # H: (10 + 1 + 0 - 2*2 - 1)//2 + 1 = 4; W: (9 + 0 + 1 - 2*1 - 1)//1 + 1 = 8
    assert layer.out_shape == (2, 4, 4, 8)
    assert layer.gemm == (4, 32, 3 * 3 * 2, 2)
    assert layer.macs == 2 * 4 * 4 * 8 * 3 * 3 * 2


@pytest.mark.parametrize("text,needle", [
    (TINY_WORKLOAD.replace("out_features: 4", "out_features: 4, input: nope"), "unknown tensor 'nope'"),
    (TINY_WORKLOAD.replace("name: fc2", "name: fc1"), "already used"),
    (TINY_WORKLOAD.replace("op: linear, out_features: 4", "op: conv2d, out_channels: 4, kernel: 3"), "NCHW"),
    (TINY_WORKLOAD + "numerics: {sample: 0}\n", "numerics.sample"),
    (TINY_WORKLOAD.replace("layers:", "quant: {weights: {granularity: per_group}}\nlayers:"), "group_size"),
    (TINY_WORKLOAD.replace("layers:", "data: {source: npz}\nlayers:"), "path"),
    (TINY_WORKLOAD.replace("layers:", "data: {source: npz, path: missing.npz}\nlayers:"), "not found"),
    (TINY_WORKLOAD.replace("[8, 32]", "[1, 3, 4, 4]").replace(
        "{name: fc1, op: linear, out_features: 16, activation: relu}",
        "{name: fc1, op: conv2d, out_channels: 4, kernel: 7}"), "impossible shape"),
])
def test_bad_workloads(write, text, needle):
    with pytest.raises(InputError, match=needle):
        load_workload(write("w.yaml", text))


def test_sample_defaults_and_limits(write):
    assert load_workload(write("w.yaml", TINY_WORKLOAD)).sample == 8
    assert load_workload(write("w.yaml", TINY_WORKLOAD + "numerics: {sample: 3}\n")).sample == 3
