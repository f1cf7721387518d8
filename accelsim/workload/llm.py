"""Decoder-only LLMs as whole models for the timing model: prefill, then decode with a growing KV cache.

A Llama-style decoder block (Touvron et al., 2023): RMSNorm, Q/K/V projections (grouped-query
attention when ``kv_heads`` < ``heads``), attention scores Q K^T and context P V per head against the
KV cache, O projection, residual add, RMSNorm, SwiGLU MLP (gate and up as one GEMM, silu(gate) * up,
down) or a GELU MLP (up, gelu, down: GPT-J), residual.
Prefill runs ``prompt`` tokens through every block at once (attention over the prompt); each decode
step runs one token through every block, reading the whole KV cache of the tokens so far and appending
its own K and V. Weight precision (int4 / int8 / fp8 / fp16), the GEMMs' format and KV-cache precision
(int8 / fp8 / fp16) are options (timing only).
"""

from __future__ import annotations

import math
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
    weight_bits: float = 8   # block formats carry their scales: MXFP4 4.25, NVFP4 4.5
    activation_bits: int = 8
    kv_cache_bits: int = 8
    vocab: int = 32000  # embedding table and lm_head rows (0: no embedding / lm_head, the block only)
    #: the format the GEMMs run in (their activations): an integer type or a float one (fp16, bf16, fp8), whose
    #: MAC rate the profile states (HardwareProfile.float_rates). Timing only: no float numerics here.
    math_format: str = "int8"
    #: the MLP: "swiglu" (Llama: gate and up projections, silu(gate) * up, down: 3 matrices of hidden x ffn) or
    #: "gelu" (GPT-2 / GPT-J: up, gelu, down: 2 matrices)
    mlp: str = "swiglu"
    #: how the attention kernel reads a grouped-query model's K/V: "per_kv_head" (once for the group of query heads
    #: sharing it: FlashAttention-2, TensorRT-LLM's XQA, FlashInfer) or "per_query_head" (once per query head: one
    #: thread block per head, TensorRT-LLM's masked MHA kernel of v0.5-v0.6, docs/source/gpt_attention.md)
    kv_reads: str = "per_kv_head"
    #: tensor parallelism (Megatron-LM sharding): each of ``tp`` devices holds heads / tp query heads, its share of
    #: the KV heads (at least one: with fewer KV heads than devices they are replicated), ffn / tp of the MLP and
    #: vocab / tp of the lm_head; the shapes below are one device's
    tp: int = 1

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        """K (or V) width of one device's KV heads."""
        return -(-self.kv_heads // self.tp) * self.head_dim

    @property
    def q_dim(self) -> int:
        """Query (and attention output) width of one device's heads."""
        return self.heads // self.tp * self.head_dim

    @property
    def ffn_device(self) -> int:
        return self.ffn // self.tp

    @property
    def mlp_matrices(self) -> int:
        """hidden x ffn weight matrices in one block's MLP."""
        return 3 if self.mlp == "swiglu" else 2

    def kv_bytes_per_token(self) -> int:
        """K and V of one token in one block on one device (bytes)."""
        return 2 * self.kv_dim * self.kv_cache_bits // 8

    def weight_bytes_per_block(self) -> int:
        """One block's weights on one device (bytes)."""
        params = (self.hidden * (self.q_dim + 2 * self.kv_dim) + self.q_dim * self.hidden
                  + self.mlp_matrices * self.hidden * self.ffn_device)
        return math.ceil(params * self.weight_bits / 8)  # block formats: fractional bits per element

    def weight_bytes(self) -> int:
        """The whole model's weights on one device (bytes): the blocks, the embedding table (fp16, gathered row by
        row, sharded like the lm_head) and the lm_head at the weights' width."""
        total = self.weight_bytes_per_block() * self.layers
        if self.vocab:
            rows = self.vocab // self.tp
            total += rows * self.hidden * 2 + math.ceil(rows * self.hidden * self.weight_bits / 8)
        return total

    def memory_bytes(self, batch: int, tokens: int) -> int:
        """Device memory for the weights and the KV cache of ``batch`` sequences of ``tokens`` positions (bytes)."""
        return self.weight_bytes() + batch * tokens * self.layers * self.kv_bytes_per_token()


LLAMA2_7B = LlmConfig()

#: built-in model shapes (the models' published config.json: hidden_size, num_attention_heads,
#: num_key_value_heads, intermediate_size, num_hidden_layers, vocab_size)
MODELS: dict[str, LlmConfig] = {
    "llama2-7b": LLAMA2_7B,
    "llama2-13b": LlmConfig(name="llama2-13b", hidden=5120, heads=40, kv_heads=40, ffn=13824, layers=40, vocab=32000),
    "llama2-70b": LlmConfig(name="llama2-70b", hidden=8192, heads=64, kv_heads=8, ffn=28672, layers=80, vocab=32000),
    "llama3-8b": LlmConfig(name="llama3-8b", hidden=4096, heads=32, kv_heads=8, ffn=14336, layers=32, vocab=128256),
    # Mistral-7B-v0.1: GQA 32/8; its 4096-token sliding window is not modelled (attention spans the context)
    "mistral-7b": LlmConfig(name="mistral-7b", hidden=4096, heads=32, kv_heads=8, ffn=14336, layers=32, vocab=32000),
    # GPT-J 6B (EleutherAI config.json: n_embd 4096, n_head 16, n_layer 28, n_inner 4 x 4096, vocab 50400, gelu_new).
    # Its parallel residual (attention and MLP read the same LayerNorm output) is timed as the sequential block: one
    # extra norm and add per block, under 1 % of a block's DRAM bytes
    # Llama 3.1 (Meta's config.json of Llama-3.1-8B / -70B / -405B: 128,256-token vocabulary, GQA with 8 KV heads);
    # Llama 3.3 70B has Llama 3.1 70B's shapes
    "llama3.1-8b": LlmConfig(name="llama3.1-8b", hidden=4096, heads=32, kv_heads=8, ffn=14336, layers=32,
                             vocab=128256),
    "llama3.1-70b": LlmConfig(name="llama3.1-70b", hidden=8192, heads=64, kv_heads=8, ffn=28672, layers=80,
                              vocab=128256),
    "llama3.3-70b": LlmConfig(name="llama3.3-70b", hidden=8192, heads=64, kv_heads=8, ffn=28672, layers=80,
                              vocab=128256),
    "llama3.1-405b": LlmConfig(name="llama3.1-405b", hidden=16384, heads=128, kv_heads=8, ffn=53248, layers=126,
                               vocab=128256),
    "gptj-6b": LlmConfig(name="gptj-6b", hidden=4096, heads=16, kv_heads=16, ffn=16384, layers=28, vocab=50400,
                         mlp="gelu"),
}


def _quant(cfg: LlmConfig) -> LayerQuant:
    return LayerQuant(weights=QuantIntent(bits=cfg.weight_bits), activations=QuantIntent(bits=cfg.activation_bits))


def decoder_block(cfg: LlmConfig, tokens: int, context: int, batch: int = 1) -> list[Layer]:
    """One decoder block for ``batch`` sequences of ``tokens`` new tokens, each attending to ``context``
    positions (incl. themselves) of its own KV cache: the projections see batch x tokens rows, attention runs
    per sequence and KV head (its query heads' rows together)."""
    q = _quant(cfg)
    h, c, hd = cfg.hidden, context, cfg.head_dim
    t = tokens * batch  # rows of the projections and elementwise ops
    lin = lambda name, src, n_in, n_out: Layer(name=name, op="linear", inputs=(src,), in_shapes=((t, n_in),),  # noqa: E731
                                              out_shape=(t, n_out), quant=q)
    vec = lambda name, op, srcs, shape: Layer(name=name, op=op, inputs=srcs,  # noqa: E731
                                              in_shapes=tuple(shape for _ in srcs), out_shape=shape, quant=q)
    # attention: one GEMM per sequence and KV head (this device's), whose group of query heads are its M rows, so
    # each K/V head is read once for its whole group: grouped-query attention as GQA-aware kernels run it
    # (FlashAttention-2, TensorRT-LLM's XQA, FlashInfer); with MHA, or kv_reads "per_query_head", a group is one head
    q_heads, kv_heads = cfg.heads // cfg.tp, cfg.kv_dim // cfg.head_dim
    group = q_heads // kv_heads if q_heads % kv_heads == 0 and cfg.kv_reads == "per_kv_head" else 1
    sh = batch * (q_heads // group)
    rows = tokens * group  # M of one group's GEMM: every query head's new tokens
    qd, f = cfg.q_dim, cfg.ffn_device
    scores = Layer(name="scores", op="matmul", inputs=("q_proj", "k_cache"), in_shapes=((sh, rows, hd),
                   (sh, c, hd)), out_shape=(sh, rows, c), quant=q, transpose_b=True)
    context_mm = Layer(name="context", op="matmul", inputs=("probs", "v_cache"), in_shapes=((sh, rows, c),
                       (sh, c, hd)), out_shape=(sh, rows, hd), quant=q)
    return [
        vec("attn_norm", "rmsnorm", ("x",), (t, h)),
        lin("q_proj", "attn_norm", h, qd),
        lin("k_proj", "attn_norm", h, cfg.kv_dim),
        lin("v_proj", "attn_norm", h, cfg.kv_dim),
        scores,
        vec("probs", "softmax", ("scores",), (sh, rows, c)),
        context_mm,
        lin("o_proj", "context", qd, h),
        vec("attn_residual", "add", ("o_proj", "x"), (t, h)),
        vec("mlp_norm", "rmsnorm", ("attn_residual",), (t, h)),
        *_mlp(cfg, lin, q, t, h, f),
        vec("mlp_residual", "add", ("down_proj", "attn_residual"), (t, h)),
    ]


def _mlp(cfg: LlmConfig, lin, q: LayerQuant, t: int, h: int, f: int) -> list[Layer]:
    """The MLP's GEMMs and activation, ending in ``down_proj``."""
    if cfg.mlp == "gelu":
        return [lin("up_proj", "mlp_norm", h, f),
                Layer(name="gelu", op="gelu", inputs=("up_proj",), in_shapes=((t, f),), out_shape=(t, f), quant=q),
                lin("down_proj", "gelu", f, h)]
    # gate and up projections as one GEMM (vLLM's gate_up_proj, TensorRT-LLM's fused MLP), then SwiGLU:
    # silu(gate) * up, in that GEMM's epilogue where the hardware fuses activations
    return [lin("gate_up_proj", "mlp_norm", h, 2 * f),
            Layer(name="swiglu", op="swiglu", inputs=("gate_up_proj",), in_shapes=((t, 2 * f),), out_shape=(t, f),
                  quant=q),
            lin("down_proj", "swiglu", f, h)]


def model_head(cfg: LlmConfig, tokens: int, batch: int = 1, logits_tokens: int = 1) -> tuple[list[Layer], list[Layer]]:
    """(before the blocks, after them): the embedding lookup of batch x tokens rows (a gather of weight rows:
    timed as the bytes it moves), and the final RMSNorm + lm_head on the ``logits_tokens`` last positions of each
    sequence (TensorRT-LLM's prefill computes the last token's logits only)."""
    if not cfg.vocab:
        return [], []
    q = _quant(cfg)
    rows, last = tokens * batch, logits_tokens * batch
    embed = Layer(name="embedding", op="gather", inputs=("token_ids", "embed_table"),
                  in_shapes=((rows,), (rows, cfg.hidden)), out_shape=(rows, cfg.hidden), quant=q)
    norm = Layer(name="final_norm", op="rmsnorm", inputs=("x",), in_shapes=((last, cfg.hidden),),
                 out_shape=(last, cfg.hidden), quant=q)
    head = Layer(name="lm_head", op="linear", inputs=("final_norm",), in_shapes=((last, cfg.hidden),),
                 out_shape=(last, cfg.vocab // cfg.tp), quant=q)
    return [embed], [norm, head]


def kv_cache_operand(layer: Layer) -> bool:
    """True for the attention matmuls whose B operand is the KV cache."""
    return layer.op == "matmul" and layer.inputs[1] in ("k_cache", "v_cache")
