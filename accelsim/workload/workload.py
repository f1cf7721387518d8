"""The workload as plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from accelsim.workload.layers import Layer
from accelsim.workload.llm import LlmConfig


@dataclass(frozen=True)
class TensorSpec:
    """A workload input. ``sampled``: numerics runs a sample of its leading (batch/token) dimension."""

    name: str
    shape: tuple[int, ...]
    sampled: bool


@dataclass(frozen=True)
class SyntheticWeights:
    distribution: Literal["normal", "laplace", "uniform"] = "normal"
    scale: float = 0.0
    channel_spread: float = 1.0


@dataclass(frozen=True)
class SyntheticActivations:
    distribution: Literal["normal", "laplace", "uniform"] = "normal"
    scale: float = 1.0
    outlier_fraction: float = 0.0
    outlier_magnitude: float = 20.0
    relu_skew: bool = False


@dataclass(frozen=True)
class DataSpec:
    """Where tensors come from: ``synthetic`` (seeded) or ``npz`` (a file of real tensors)."""

    source: Literal["synthetic", "npz"] = "synthetic"
    seed: int = 0
    path: str | None = None
    weights: SyntheticWeights = field(default_factory=SyntheticWeights)
    activations: SyntheticActivations = field(default_factory=SyntheticActivations)


@dataclass(frozen=True)
class LlmContext:
    """Whole-model context of an LLM block workload: the model, prompt length and decode steps."""

    config: LlmConfig
    prompt: int
    decode_steps: int


@dataclass(frozen=True)
class ModelSpec:
    """A real model behind a workload: which one, and the sentences it runs on."""

    name: str
    seq_len: int
    max_tokens: int
    sentences: tuple[str, ...]
    calibration: tuple[str, ...]


@dataclass(frozen=True)
class Workload:
    """Layers in execution order, their inputs, data source and the numerics sample size.

    ``sample`` is the number of items of every sampled input's leading dimension that run
    bit-accurately; the timing model always uses the full shapes.
    """

    name: str
    description: str
    inputs: tuple[TensorSpec, ...]
    layers: tuple[Layer, ...]
    data: DataSpec
    sample: int
    source: str = ""
    llm: LlmContext | None = None
    model: ModelSpec | None = None
    graph: object | None = None  # accelsim.graph.run.GraphSpec: an ONNX model or a real model, run as a graph
    recipe: object | None = None  # accelsim.quant.recipe.Recipe, or "auto" (searched per contract), or None (naive)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def shape_of(self, tensor: str) -> tuple[int, ...]:
        for spec in self.inputs:
            if spec.name == tensor:
                return spec.shape
        for layer in self.layers:
            if layer.name == tensor:
                return layer.out_shape
        raise KeyError(tensor)

