"""The one graph IR (accelsim.graph.ir), its analysis into integer layers (view), its float/Q-DQ op semantics
(ops) and the one executor (execute), with the contract's integer layers (contract) and the numerics of a whole
graph under a legalized plan (run)."""

from accelsim.graph.ir import Graph, Node, TensorInfo

__all__ = ["Graph", "Node", "TensorInfo"]
