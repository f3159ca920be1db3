"""Every Loihi 2 number format spikeforge relies on, in one place.

Like nengo-loihi's ``builder/discretize.py``, this module is the single home of the
chip's bit widths, shifts, offsets and ranges. They are the ones Lava's bit-accurate
CPU models implement (lava-nc 0.10.0, ``lava/proc/lif/models.py``
``AbstractPyLifModelFixed``, ``lava/proc/dense/models.py`` ``PyDenseModelBitAcc``,
``lava/utils/weightutils.py``) and netx builds (lava-dl 0.6.0,
``lava/lib/dl/netx/hdf5.py``)::

    u = wrap24( sign(u*(4096-(du+1))) * (|.| >> 12) + (a_in << 6) )
    v = clip24( sign(v*(4096-dv)) * (|.| >> 12) + u + (bias_mant << bias_exp) )
    spike when v > (vth << 6); then v = 0
    a_out = (sum of 8-bit weights of active inputs) << weight_exp

The quantiser, the emulator, netx import and export, the activity counters and the
benchmarks import these names; no other module spells these numbers. It depends on
nothing, so every layer may import it.
"""

from __future__ import annotations

#: Decays ``du``/``dv`` are 12-bit fractions of ``DECAY_UNITY``, applied by a right shift.
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT
DECAY_MAX = DECAY_UNITY - 1
#: spikeforge's ``SfLif`` (on the chip: a microcoded neuron) holds wider decay
#: fractions, up to this many bits, for time constants 12 bits round too coarsely.
#: Lava's arithmetic promotes ``u``/``v`` (24-bit) to int64 before the product, so
#: ``|u * keep| < 2^(STATE_BITS - 1 + DECAY_BITS_MAX)`` must stay below 2^63.
DECAY_BITS_MAX = 24
#: Lava's current keeps ``DECAY_UNITY - (du + DU_OFFSET)`` per step (voltage: ``- dv``);
#: netx therefore writes ``du = iDecay - DU_OFFSET`` for slayer's ``iDecay``.
DU_OFFSET = 1

#: Synaptic input enters ``u`` MSB-aligned: ``a_in << ACT_SHIFT``.
ACT_SHIFT = 6
#: The threshold is compared as ``vth << VTH_SHIFT``.
VTH_SHIFT = 6
VTH_BITS = 17
VTH_MAX = (1 << VTH_BITS) - 1
#: netx's threshold for a dense layer without a neuron group (hdf5.py writes ``1 << 18 - 1``,
#: which Python reads as ``1 << 17``): above Lava's clipped 24-bit voltage, it never spikes.
NETX_NEVER_SPIKES = 1 << VTH_BITS
#: The decays netx hands Lava: ``du = iDecay - DU_OFFSET`` for ``iDecay`` in 0..DECAY_UNITY
#: (``-1``: the current keeps everything), ``dv = vDecay`` in 0..DECAY_UNITY.
NETX_DU_MIN, NETX_DU_MAX = -DU_OFFSET, DECAY_UNITY - DU_OFFSET
NETX_DV_MAX = DECAY_UNITY

#: ``bias_mant`` is a 13-bit signed mantissa, ``bias_exp`` a 3-bit exponent.
BIAS_MANT_BITS = 13
BIAS_MANT_MAX = (1 << (BIAS_MANT_BITS - 1)) - 1
BIAS_MANT_MIN = -(1 << (BIAS_MANT_BITS - 1))
BIAS_EXP_MAX = 7
#: netx builds every CUBA/LOIHI neuron with ``bias_exp = 6`` (hdf5.py).
NETX_BIAS_EXP = 6

#: ``u`` and ``v`` are 24-bit: ``u`` wraps around, ``v`` saturates at ``±(STATE_HALF - 1)``.
#: A Conv's per-step sums and a Delta layer's ``a_in`` are signed 24-bit as well.
STATE_BITS = 24
STATE_HALF = 1 << (STATE_BITS - 1)

#: Lava's fixed-point models compute in int32: numpy's casts wrap a value around at
#: ``±INT32_HALF`` (an activation message, a graded dot product), silently.
INT32_BITS = 32
INT32_HALF = 1 << (INT32_BITS - 1)

#: 8-bit weight mantissas; with mixed signs Lava drops the lowest bit (even values).
WEIGHT_BITS = 8
WEIGHT_MIN, WEIGHT_MAX = -(1 << WEIGHT_BITS), (1 << WEIGHT_BITS) - 1
#: With mixed signs Lava keeps every other mantissa: steps of this many, from ``WEIGHT_MIN``.
MIXED_SIGN_WEIGHT_STEP = 2
#: Weight exponents Lava's Dense accepts (``a_out << weight_exp``, right shift if negative).
WEIGHT_EXP_RANGE = (-8, 7)
#: Lava's ``num_weight_bits`` as netx's ``optimize_weight_bits`` sets it: truncation keeps
#: this many bits (a mixed-sign matrix one more, for the sign), 0 .. WEIGHT_BITS + 1.
NUM_WEIGHT_BITS_MAX = WEIGHT_BITS + 1

#: ``DelayDense`` holds per-synapse delays of 0..MAX_SYNAPSE_DELAY extra steps.
MAX_SYNAPSE_DELAY = 62


def lava_u_keep(du: int, bits: int = DECAY_SHIFT) -> int:
    """What Lava's current keeps of itself per step, in units of ``2^-bits``."""
    return (1 << bits) - (du + DU_OFFSET)


def lava_v_keep(dv: int, bits: int = DECAY_SHIFT) -> int:
    """What Lava's voltage keeps of itself per step, in units of ``2^-bits``."""
    return (1 << bits) - dv

#: Sigma-delta neurons (Lava ``lava.proc.sdn``, netx SDNN layers). netx builds them
#: with ``state_exp = 6`` and ``spike_exp = 6`` (its ``Network(spike_exp=6)`` default):
#: thresholds and biases are scaled by ``2^(spike_exp + state_exp)``, payloads leave
#: shifted right by ``state_exp``.
SDN_STATE_EXP = 6
SDN_SPIKE_EXP = 6
#: netx's graded-spike width of an SDNN layer without ``messageBits``; Loihi 2's
#: graded spikes carry at most ``GRADED_BITS_MAX`` bits of payload.
SDN_MESSAGE_BITS = 16
GRADED_BITS_MAX = 24
#: Lava's fixed-point sigma-delta state is int32: a threshold ``vth << 12`` must fit.
SDN_VTH_MAX = ((1 << 31) - 1) >> (SDN_STATE_EXP + SDN_SPIKE_EXP)
