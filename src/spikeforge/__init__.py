"""spikeforge: deploy spiking networks from norse / NIR to Loihi 2 through Lava, exactly."""

from spikeforge.errors import SpikeforgeError

__version__ = "0.1.0"

__all__ = ["SpikeforgeError", "__version__"]
