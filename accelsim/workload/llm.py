"""Decoder-only LLMs as whole models for the timing model: prefill, then decode with a growing KV cache.

A Llama-style decoder block (Touvron et al., 2023): RMSNorm, Q/K/V projections (grouped-query
attention when ``kv_heads`` < ``heads``), attention scores Q K^T and context P V per head against the
KV cache, O projection, residual add, RMSNorm, SwiGLU MLP (gate, up, SiLU, multiply, down), residual.
Prefill runs ``prompt`` tokens through every block at once (attention over the prompt); each decode
step runs one token through every block, reading the whole KV cache of the tokens so far and appending
its own K and V. Weight precision (int4 / int8) and KV-cache precision (int8 / fp16) are options.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.workload.layers import Layer, LayerQuant, QuantIntent


@dataclass(frozen=True)
class LlmConfig:
    """Model dimensions and the deployment's precisions (bits)."""

    name: str = "llama2-7b"
    hidden: int = 4096
    heads: int = 32
    kv_heads: int = 32
    ffn: int = 11008
    layers: int = 32
    weight_bits: int = 8
    activation_bits: int = 8
    kv_cache_bits: int = 8

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def kv_bytes_per_token(self) -> int:
        """K and V of one token in one block (bytes)."""
        return 2 * self.kv_dim * self.kv_cache_bits // 8

    def weight_bytes_per_block(self) -> int:
        params = self.hidden * (self.hidden + 2 * self.kv_dim) + self.hidden * self.hidden + 3 * self.hidden * self.ffn
        return params * self.weight_bits // 8


LLAMA2_7B = LlmConfig()


def _quant(cfg: LlmConfig) -> LayerQuant:
    return LayerQuant(weights=QuantIntent(bits=cfg.weight_bits), activations=QuantIntent(bits=cfg.activation_bits))


def decoder_block(cfg: LlmConfig, tokens: int, context: int) -> list[Layer]:
    """One decoder block for ``tokens`` new tokens attending to ``context`` positions (incl. themselves)."""
    q = _quant(cfg)
    h, t, c, hd = cfg.hidden, tokens, context, cfg.head_dim
    lin = lambda name, src, n_in, n_out: Layer(name=name, op="linear", inputs=(src,), in_shapes=((t, n_in),),  # noqa: E731
                                              out_shape=(t, n_out), quant=q)
    vec = lambda name, op, srcs, shape: Layer(name=name, op=op, inputs=srcs,  # noqa: E731
                                              in_shapes=tuple(shape for _ in srcs), out_shape=shape, quant=q)
    # attention per query head; with GQA a query head reads its group's K/V (same bytes per head read)
    scores = Layer(name="scores", op="matmul", inputs=("q_proj", "k_cache"), in_shapes=((cfg.heads, t, hd),
                   (cfg.heads, c, hd)), out_shape=(cfg.heads, t, c), quant=q, transpose_b=True)
    context_mm = Layer(name="context", op="matmul", inputs=("probs", "v_cache"), in_shapes=((cfg.heads, t, c),
                       (cfg.heads, c, hd)), out_shape=(cfg.heads, t, hd), quant=q)
    return [
        vec("attn_norm", "rmsnorm", ("x",), (t, h)),
        lin("q_proj", "attn_norm", h, h),
        lin("k_proj", "attn_norm", h, cfg.kv_dim),
        lin("v_proj", "attn_norm", h, cfg.kv_dim),
        scores,
        vec("probs", "softmax", ("scores",), (cfg.heads, t, c)),
        context_mm,
        lin("o_proj", "context", h, h),
        vec("attn_residual", "add", ("o_proj", "x"), (t, h)),
        vec("mlp_norm", "rmsnorm", ("attn_residual",), (t, h)),
        # gate, its SiLU, then up and the gating product: the order a fused kernel runs them in (SiLU in the
        # gate GEMM's epilogue, the product in the up GEMM's)
        lin("gate_proj", "mlp_norm", h, cfg.ffn),
        vec("gate_act", "silu", ("gate_proj",), (t, cfg.ffn)),
        lin("up_proj", "mlp_norm", h, cfg.ffn),
        vec("gated", "mul", ("gate_act", "up_proj"), (t, cfg.ffn)),
        lin("down_proj", "gated", cfg.ffn, h),
        vec("mlp_residual", "add", ("down_proj", "attn_residual"), (t, h)),
    ]


def kv_cache_operand(layer: Layer) -> bool:
    """True for the attention matmuls whose B operand is the KV cache."""
    return layer.op == "matmul" and layer.inputs[1] in ("k_cache", "v_cache")
