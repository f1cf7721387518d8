"""Pydantic schema of workload YAML (strict: unknown keys are errors)."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LAYER_OPS = ("linear", "conv2d", "matmul", "add", "relu", "softmax", "gelu", "silu", "mul", "layernorm", "rmsnorm",
             "maxpool", "avgpool", "global_avgpool", "flatten")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _name(v: str) -> str:
    if not _NAME.fullmatch(v):
        raise ValueError("must start with a letter or '_' and contain only letters, digits, '_', '.', '-'")
    return v


class QuantIntentModel(_Strict):
    bits: int | None = Field(default=None, ge=2, le=16)
    symmetric: bool | None = None
    granularity: Literal["per_tensor", "per_channel", "per_group"] | None = None
    group_size: int | None = Field(default=None, gt=0)
    calibration: Literal["minmax", "percentile", "mse", "entropy"] | None = None
    narrow_range: bool | None = None
    percentile: float | None = Field(default=None, gt=50.0, le=100.0)
    # a float or block format instead of integers (fp16, bf16, fp8_e4m3, mxfp4, nvfp4, ...: accelsim.operands)
    format: Literal["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1",
                    "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4", "mxint8", "nvfp4"] | None = None
    # a format's per-tensor scale: calibrated once (per_tensor) or taken from each tensor as it runs (dynamic)
    scaling: Literal["per_tensor", "dynamic"] | None = None

    @model_validator(mode="after")
    def _scaling(self):
        if self.scaling == "dynamic" and self.format is None:
            raise ValueError("scaling: dynamic applies to a float format (format: fp8_e4m3, ...); integer activations "
                             "are calibrated per tensor")
        return self


class LayerQuantModel(_Strict):
    weights: QuantIntentModel = Field(default_factory=QuantIntentModel)
    activations: QuantIntentModel = Field(default_factory=QuantIntentModel)


class WorkloadQuantModel(LayerQuantModel):
    # a recipe beyond the naive one (accelsim.quant.recipe): a recipe YAML path (relative to the workload), "auto"
    # (accelsim tune's search, run inside run/compare), or the steps inline
    recipe: Union[str, list, dict, None] = None


class InputModel(_Strict):
    shape: list[Annotated[int, Field(gt=0, le=1 << 40)]] = Field(min_length=1, max_length=6)
    sampled: bool | None = None  # leading dimension is sampled by numerics (default: first input only)


Pair = Union[Annotated[int, Field(gt=0)], Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=2, max_length=2)]]
Padding = Union[Annotated[int, Field(ge=0)],
                Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=4)]]


class _LayerBase(_Strict):
    name: str = Field(min_length=1, max_length=100)
    quant: LayerQuantModel | None = None

    _n = field_validator("name")(classmethod(lambda cls, v: _name(v)))


class LinearModel(_LayerBase):
    op: Literal["linear"]
    input: str | None = None
    in_features: int | None = Field(default=None, gt=0)
    out_features: int = Field(gt=0)
    bias: bool = True
    activation: Literal["none", "relu", "relu6"] = "none"


class Conv2dModel(_LayerBase):
    op: Literal["conv2d"]
    input: str | None = None
    in_channels: int | None = Field(default=None, gt=0)
    out_channels: int = Field(gt=0)
    kernel: Pair
    stride: Pair = 1
    padding: Padding = 0
    dilation: Pair = 1
    groups: int = Field(default=1, gt=0)
    bias: bool = True
    activation: Literal["none", "relu", "relu6"] = "none"


class MatmulModel(_LayerBase):
    op: Literal["matmul"]
    inputs: list[str] = Field(min_length=2, max_length=2)
    transpose_b: bool = False
    heads: int = Field(default=1, gt=0)
    merge_heads: bool = False


class BinaryModel(_LayerBase):
    op: Literal["add", "mul"]
    inputs: list[str] = Field(min_length=2, max_length=2)


class UnaryModel(_LayerBase):
    op: Literal["relu", "gelu", "silu", "layernorm", "rmsnorm"]
    input: str | None = None


class SoftmaxModel(_LayerBase):
    op: Literal["softmax"]
    input: str | None = None
    scale: float = Field(default=1.0, gt=0.0)  # softmax(scale * x): attention's 1/sqrt(head_dim)


class PoolModel(_LayerBase):
    """ONNX MaxPool / AveragePool (NCHW; floor output size, ceil_mode 0; padded cells excluded from averages)."""

    op: Literal["maxpool", "avgpool"]
    input: str | None = None
    kernel: Pair
    stride: Pair | None = None  # default: the kernel (non-overlapping windows)
    padding: Padding = 0


class ReshapeModel(_LayerBase):
    """global_avgpool: NCHW -> N x C x 1 x 1 (ONNX GlobalAveragePool); flatten: N x (C*H*W) (ONNX Flatten, axis 1)."""

    op: Literal["global_avgpool", "flatten"]
    input: str | None = None


LayerModel = Annotated[Union[LinearModel, Conv2dModel, MatmulModel, BinaryModel, UnaryModel, SoftmaxModel, PoolModel,
                             ReshapeModel],
                       Field(discriminator="op")]


class SyntheticWeightsModel(_Strict):
    distribution: Literal["normal", "laplace", "uniform"] = "normal"
    scale: float = Field(default=0.0, ge=0.0)  # 0: 1/sqrt(fan_in) (Kaiming-like)
    channel_spread: float = Field(default=1.0, ge=1.0)  # max/min per-output-channel scale ratio


class SyntheticActivationsModel(_Strict):
    distribution: Literal["normal", "laplace", "uniform"] = "normal"
    scale: float = Field(default=1.0, gt=0.0)
    outlier_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    outlier_magnitude: float = Field(default=20.0, ge=1.0)
    relu_skew: bool = False


class DataModel(_Strict):
    source: Literal["synthetic", "npz"] = "synthetic"
    seed: int = 0
    path: str | None = None
    weights: SyntheticWeightsModel = Field(default_factory=SyntheticWeightsModel)
    activations: SyntheticActivationsModel = Field(default_factory=SyntheticActivationsModel)

    @model_validator(mode="after")
    def _path(self):
        if self.source == "npz" and not self.path:
            raise ValueError("source 'npz' needs 'path' (an .npz file of tensors)")
        if self.source == "synthetic" and self.path:
            raise ValueError("'path' is only allowed with source 'npz'")
        return self


class NumericsModel(_Strict):
    sample: int | None = Field(default=None, gt=0)


class LlmModel(_Strict):
    """Whole-model context of an LLM decoder-block workload (timing only)."""

    # bounds: 16x the largest published models (hidden 16384, 128 heads, ffn 53248 for Llama-3-405B) and a
    # context far past any served today; the product check below keeps every count inside int64
    name: str | None = Field(default=None, min_length=1, max_length=64)   # default: the workload's name
    layers: int = Field(gt=0, le=1024)
    hidden: int = Field(gt=0, le=1 << 18)
    heads: int = Field(gt=0, le=1 << 12)
    kv_heads: int | None = Field(default=None, gt=0, le=1 << 12)
    ffn: int = Field(gt=0, le=1 << 20)
    mlp: Literal["swiglu", "gelu"] = "swiglu"   # gated (Llama: 3 matrices) or plain (GPT-J: 2 matrices)
    prompt: int = Field(gt=0, le=1 << 24)
    decode_steps: int = Field(default=128, ge=0, le=1 << 20)
    weight_bits: Literal[4, 8] = 8
    kv_cache_bits: Literal[8, 16] = 8
    vocab: int = Field(default=32000, ge=0, le=1 << 22)   # embedding and lm_head rows (0: the blocks only)
    math_format: Literal["int8", "fp16", "bf16", "fp8", "fp4"] | None = None   # the GEMMs' format (default: the
                                                                              # layers' integer math)

    @model_validator(mode="after")
    def _heads(self):
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        context = self.prompt + self.decode_steps
        largest = max(self.prompt * self.hidden * self.ffn, self.prompt * context * self.hidden)
        if largest > 1 << 52 or largest * self.layers > 1 << 62:
            raise ValueError(f"the model is too large to time: {largest:.3g} MACs in one block's largest GEMM "
                             f"(at most 2^52), {largest * self.layers:.3g} in {self.layers} blocks (at most 2^62)")
        return self


class ModelSource(_Strict):
    """A real model with real weights: its layers are generated, its data are real inputs."""

    name: Literal["all-minilm-l6-v2"]
    seq_len: int = Field(default=128, gt=0, le=512)   # tokens per sentence for the timing model
    max_tokens: int = Field(default=128, gt=2, le=512)
    # each sentence runs the whole model: a few hundred is an evaluation set, more is a mistake
    sentences: list[Annotated[str, Field(max_length=20_000)]] = Field(min_length=1, max_length=1024)
    calibration: list[Annotated[str, Field(max_length=20_000)]] = Field(min_length=1, max_length=1024)


class OnnxSource(_Strict):
    """An ONNX model as the workload (float: accelsim quantizes it; QDQ: its Q/DQ are the intent)."""

    path: str                                   # relative to the workload file
    dims: dict[str, Annotated[int, Field(gt=0, le=1 << 40)]] = Field(default_factory=dict)
    data: str | None = None                     # .npz of model inputs (calibration and evaluation)
    reference: str | None = None                # the float model, for a QDQ model's accuracy


class WorkloadModel(_Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    llm: LlmModel | None = None
    model: ModelSource | None = None
    onnx: OnnxSource | None = None
    inputs: dict[str, InputModel] | None = Field(default=None, min_length=1)
    quant: WorkloadQuantModel = Field(default_factory=WorkloadQuantModel)
    data: DataModel = Field(default_factory=DataModel)
    numerics: NumericsModel = Field(default_factory=NumericsModel)
    layers: list[LayerModel] | None = Field(default=None, min_length=1)

    _n = field_validator("name")(classmethod(lambda cls, v: _name(v)))

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, v):
        for key in v or {}:
            if len(key) > 100:
                raise ValueError("input names are at most 100 characters")
            _name(key)
        return v

    @model_validator(mode="after")
    def _layers_or_model(self):
        generated = [k for k in ("model", "onnx") if getattr(self, k) is not None]
        if len(generated) > 1:
            raise ValueError("'model' and 'onnx' cannot both be given")
        if not generated and (self.inputs is None or self.layers is None):
            raise ValueError("a workload needs 'inputs' and 'layers' (or a 'model' or 'onnx' to generate them)")
        if generated and (self.inputs is not None or self.layers is not None):
            raise ValueError(f"'{generated[0]}' generates the inputs and layers: remove 'inputs' and 'layers'")
        return self

