"""Which layers a contract fuses, and what that saves: operands that never go to DRAM.

Production kernels do not run a network one op at a time through DRAM. TensorRT-LLM fuses the bias and
activation into a GEMM's epilogue, the residual add and the following RMSNorm/LayerNorm into one kernel,
and attention into one kernel (FlashAttention: the scores and probabilities stay on chip); ONNX Runtime's
CPU graph optimizer fuses Gelu, SkipLayerNormalization and Attention; NPUs fuse the activation into the
conv. A profile states what its hardware fuses (``fusion:`` capabilities); this module decides, per
layer, which of its inputs come from on chip (the producer's epilogue) and whether its output is written
to DRAM at all (not if every consumer is fused onto it).

Capabilities (``HardwareProfile.fusion``):
- ``activation``: relu / gelu / silu / swiglu (silu(gate) * up of a fused gate-up GEMM), and a ``mul`` onto its
  on-chip operand's producer;
- ``residual``: an ``add`` onto a MAC layer (or a fused chain) producing one of its operands;
- ``norm``: layernorm / rmsnorm onto its producer (the fused residual-add + norm kernels);
- ``attention``: a matmul whose only consumer is a softmax whose only consumer is a matmul (Q K^T ->
  softmax -> P V): the scores and probabilities never leave the chip.
A fused layer still computes (its vector ops run in the producer's epilogue and are charged energy);
it has no DRAM traffic for the on-chip operand and no pipeline fill of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.workload.layers import Layer

FUSION_CAPABILITIES = ("activation", "residual", "norm", "attention")

_ACTIVATIONS = ("relu", "gelu", "silu", "swiglu")
_NORMS = ("layernorm", "rmsnorm")


@dataclass(frozen=True)
class Fusion:
    """How one layer runs under the profile's fusion capabilities."""

    fused_into: str | None = None          # the producer whose epilogue runs this layer (None: its own kernel)
    on_chip_inputs: tuple[str, ...] = ()   # inputs read from on chip, not from DRAM
    writes_output: bool = True             # False: every consumer is fused onto it; the output stays on chip

    @property
    def fused(self) -> bool:
        return self.fused_into is not None


UNFUSED = Fusion()


def _fusable(layer: Layer, producer: Layer, capabilities: frozenset, consumers: dict) -> bool:
    if layer.op in _ACTIVATIONS or layer.op == "mul":
        return "activation" in capabilities
    if layer.op == "add":
        return "residual" in capabilities
    if layer.op in _NORMS:
        return "norm" in capabilities
    if layer.op == "softmax":  # attention: matmul -> softmax -> matmul, each the other's only consumer
        after = consumers.get(layer.name, [])
        return ("attention" in capabilities and producer.op == "matmul"
                and len(consumers.get(producer.name, [])) == 1 and len(after) == 1 and after[0].op == "matmul")
    if layer.op == "matmul" and "attention" in capabilities:
        return producer.op == "softmax" and layer.inputs[0] == producer.name
    return False


def plan_fusion(layers: list[Layer] | tuple[Layer, ...], capabilities) -> dict[str, Fusion]:
    """Fusion of every layer (by name), in order; layers not fused get :data:`UNFUSED`."""
    capabilities = frozenset(capabilities)
    by_name = {layer.name: layer for layer in layers}
    consumers: dict[str, list[Layer]] = {}
    for layer in layers:
        for name in layer.inputs:
            consumers.setdefault(name, []).append(layer)
    if not capabilities:
        return {layer.name: UNFUSED for layer in layers}
    # the epilogue chain: the MAC layer just computed and the layers fused onto it since; an input can be
    # taken from on chip only if its producer is in the current chain (anything older went to DRAM)
    chain: dict[str, str] = {}  # layer name -> the MAC layer whose epilogue computed it
    plan: dict[str, Fusion] = {}
    for layer in layers:
        on_chip = [name for name in layer.inputs if name in chain
                   and _fusable(layer, by_name[name], capabilities, consumers)]
        if layer.is_mac:
            if layer.op != "matmul":
                on_chip = []  # only attention's P V takes its A operand (P) from on chip
            plan[layer.name] = Fusion(on_chip_inputs=tuple(on_chip))
            chain = {layer.name: layer.name}
        elif on_chip:
            root = chain[on_chip[0]]
            plan[layer.name] = Fusion(fused_into=root, on_chip_inputs=tuple(on_chip))
            chain[layer.name] = root
        else:
            plan[layer.name] = UNFUSED
            chain = {}
    # outputs that no consumer reads from DRAM are not written
    for layer in layers:
        readers = consumers.get(layer.name, [])
        if readers and all(layer.name in plan[r.name].on_chip_inputs for r in readers):
            plan[layer.name] = Fusion(plan[layer.name].fused_into, plan[layer.name].on_chip_inputs, False)
    return plan
