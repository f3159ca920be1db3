"""Spyx 0.1.20's own NIR exports and simulations, for tests/data/frameworks/spyx/.

Spyx needs JAX and Haiku, which spikeforge's venv does not carry. Recreate the venv
used (pip's resolver backtracks for long on flax's extras, so every pin is given)::

    python3.10 -m venv /tmp/venv-spyx
    /tmp/venv-spyx/bin/pip install --no-deps --only-binary=:all: jax==0.4.30 \\
        jaxlib==0.4.30 ml-dtypes==0.4.0 opt-einsum==3.3.0 scipy==1.13.1 numpy==1.26.4 \\
        dm-haiku==0.0.12 jmp==0.0.4 tabulate==0.9.0 absl-py==2.1.0 optax==0.2.3 \\
        chex==0.1.86 toolz==0.12.1 typing-extensions==4.12.2 etils==1.7.0 \\
        jax-tqdm==0.2.2 tqdm==4.66.4 nir==1.0.4 h5py==3.11.0 spyx==0.1.20 flax==0.8.5 \\
        msgpack==1.0.8 PyYAML==6.0.1 rich==13.7.1 markdown-it-py==3.0.0 mdurl==0.1.2 \\
        pygments==2.18.0 orbax-checkpoint==0.5.20 tensorstore==0.1.63 nest-asyncio==1.6.0 \\
        protobuf==4.25.3 humanize==4.9.0 fsspec==2024.6.0 importlib-resources==6.4.0 \\
        zipp==3.19.2
    /tmp/venv-spyx/bin/python scripts/framework_fixtures/spyx_fixtures.py

The network is Haiku's ``DeepRNN`` of ``hk.Linear`` and ``spyx.nn.LIF`` (a decay
``beta`` per neuron, Spyx's default initialisation), unrolled by Haiku in float32
(JAX's default); outputs are Spyx's spikes. Spyx's ``to_nir`` cannot export its
``conv2`` layers (it calls ``np.array(weight=...)``, a TypeError), so only an MLP.
nir is 1.0.4 here: Spyx writes Haiku's ``(in, out)`` weights, on which nir 1.0.8's
type inference raises in ``NIRGraph`` before any file is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import haiku as hk
import jax
import jax.numpy as jnp
import nir
import numpy as np
import spyx.nn as snn
from spyx.nir import to_nir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, Entry, save_case, spike_input, write_manifest

N_IN, N_HID, N_OUT = 12, 10, 6
ENTRY = Entry("lif_mlp", "LIF, defaults (a beta per neuron), MLP + bias", "spyx")


def forward(x: jnp.ndarray) -> jnp.ndarray:
    core = hk.DeepRNN([hk.Linear(N_HID), snn.LIF((N_HID,)), hk.Linear(N_OUT), snn.LIF((N_OUT,))])
    spikes, _ = hk.dynamic_unroll(core, x, core.initial_state(x.shape[0]), time_major=False)
    return spikes


def main() -> None:
    folder = DATA / "spyx"
    folder.mkdir(parents=True, exist_ok=True)
    x = spike_input(300, (N_IN,))
    net = hk.without_apply_rng(hk.transform(forward))
    params = net.init(jax.random.PRNGKey(0), jnp.asarray(x, jnp.float32))
    params = {k: dict(v) for k, v in params.items()}  # init order: to_nir chains the keys
    params["linear"]["w"] = params["linear"]["w"] * 3.0
    params["linear_1"]["w"] = params["linear_1"]["w"] * 3.0
    y = np.asarray(net.apply(params, jnp.asarray(x, jnp.float32)))
    graph = to_nir(params, (N_IN,), (N_OUT,), dt=1e-3)
    nir.write(folder / f"{ENTRY.name}.nir", graph)
    save_case("spyx", ENTRY, x, y)
    print(f"{ENTRY.name}: mean {y.mean():.3f}; params {list(params)}")
    write_manifest("spyx", [ENTRY], {"spyx": "0.1.20", "jax": jax.__version__, "nir": nir.version})


if __name__ == "__main__":
    main()
