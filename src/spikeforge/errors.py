"""The one exception type the command line turns into a one-line message.

Every error a user can cause (bad file, unsupported node, parameter out of range)
is raised as a :class:`SpikeforgeError` whose text names *what* and *where*, so the
CLI never has to show a traceback and tests can match on the message.
"""


class SpikeforgeError(Exception):
    """A user-facing error: the message alone must say what was wrong and where."""


class UnsupportedError(SpikeforgeError):
    """The network uses something the target cannot reproduce exactly."""


class TimingError(SpikeforgeError):
    """Source timing cannot be reproduced on Loihi without an explicit opt-in."""
