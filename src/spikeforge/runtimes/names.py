"""Backend names, importable without loading any backend (the CLI's choices come from here)."""

#: ``reference``: float64 IR semantics; ``lava``: Lava's CPU simulator; ``emulator``:
#: spikeforge's batched torch model of Lava's process models; ``loihi2``: the chip.
BACKENDS = ("reference", "lava", "emulator", "loihi2")
