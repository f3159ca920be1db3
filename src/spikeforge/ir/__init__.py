"""The intermediate graph: node types with explicit discrete-time semantics, NIR import."""

from spikeforge.ir.nir_import import from_nir, infer_shapes, load_nir
from spikeforge.ir.nodes import Edge, Graph, InputNode, NeuronNode, OutputNode

__all__ = [
    "Edge",
    "Graph",
    "InputNode",
    "NeuronNode",
    "OutputNode",
    "from_nir",
    "infer_shapes",
    "load_nir",
]
