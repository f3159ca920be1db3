"""Export norse / torch networks to NIR, correctly.

norse 1.1.0's ``norse.torch.to_nir`` cannot be used: it writes time constants in steps
(``dt / tau_inv``), leaves torch tensors in the nodes (``nir.write`` fails), breaks on
batched samples and drops ``Flatten``, ``LICell`` and ``LIFRecurrentCell``. This package
traces with nirtorch and applies the toolchain's conventions (see
:mod:`spikeforge.export.norse_map`).
"""

from spikeforge.export.exporter import infer_input_shape, to_nir
from spikeforge.export.pooling import SumPool2d
from spikeforge.export.writer import write_nir

__all__ = ["SumPool2d", "infer_input_shape", "to_nir", "write_nir"]
