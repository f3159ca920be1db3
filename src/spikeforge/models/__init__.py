"""Networks that ship with spikeforge: the spine's example networks (and, later, the zoo)."""
