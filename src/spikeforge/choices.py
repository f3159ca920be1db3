"""The enumerations the library and the command line share, importable without torch or Lava.

A bottom helper (like ``errors``): it imports nothing, so the runtimes and the
quantiser can check their arguments against the same tuples the CLI offers, and
``spikeforge --help`` builds its parser without loading torch, norse or Lava.
"""

#: ``reference``: float64 IR semantics; ``lava``: Lava's CPU simulator; ``emulator``:
#: spikeforge's batched torch model of Lava's process models; ``loihi2``: the chip.
BACKENDS = ("reference", "lava", "emulator", "loihi2")
#: 8-bit synapse processes per weight matrix that quantisation can build
#: (:func:`spikeforge.compile.quantize.quantize`).
WEIGHT_PLANES = (1, 2, 3)
