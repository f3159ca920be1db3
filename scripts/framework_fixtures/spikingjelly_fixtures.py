"""SpikingJelly 0.0.0.0.14's own simulations, for tests/data/frameworks/spikingjelly/.

No released SpikingJelly exports NIR: the newest wheel on PyPI, 0.0.0.0.14, has no
NIR module. Its exporter exists only in its GitHub repository
(``spikingjelly/activation_based/nir_exchange/to_nir.py``, commit
e2027aa46c4e71c946b0082de5845002315d1fcd; the mapping is the same at 075f97e9).
Its code is not copied here: this script writes each graph itself, with nir's own
dataclasses traced by ``nirtorch.torch_to_nir`` (as that exporter does), holding the
parameters that exporter's mapping gives (``dt`` its default 1e-4)::

    layer.Linear   nir.Linear(W), or nir.Affine(W, b) with a bias
    layer.Conv2d   nir.Conv2d(input_shape=(H, W), bias zeros without a bias)
    layer.AvgPool2d  nir.AvgPool2d(kernel_size, stride, padding)
    layer.Flatten  nir.Flatten(input_type = the shape without T and B,
                   start_dim - 1 and end_dim - 1 where positive)
    IFNode         nir.IF(r = 1/dt, v_threshold, v_reset)
    LIFNode        nir.LIF(tau = tau*dt, r = 1 if decay_input else tau,
                   v_leak = v_reset, v_threshold, v_reset)

(soft reset, ``v_reset=None``, the exporter writes as a hard reset to 0, so such a
network is not exported as itself and is left out here). The SpikingJelly side is
the wheel's own ``spikingjelly.activation_based`` (``neuron.LIFNode``/``IFNode``,
``layer.*``). Its requirements (torch, torchvision, numpy, scipy, matplotlib, tqdm)
are unpinned and all in spikeforge's venv, where ``pip install --dry-run --no-deps``
would add only the wheel; it was installed in its own venv all the same, reading
spikeforge's packages (torch 2.3.1, nir 1.0.8, nirtorch 2.6)::

    python3.10 -m venv /tmp/venv-sj
    /tmp/venv-sj/bin/pip install --no-deps spikingjelly==0.0.0.0.14
    echo /work/main/.venv/lib/python3.10/site-packages \\
        > /tmp/venv-sj/lib/python3.10/site-packages/zz_main_venv.pth
    /tmp/venv-sj/bin/python scripts/framework_fixtures/spikingjelly_fixtures.py

Each network runs in ``eval()`` mode, in float32 (SpikingJelly's default dtype), all
samples as one batch from ``functional.reset_net`` states: step mode 'm' steps the
whole ``[T, B, ...]`` sequence through its fused multi-step neuron loops, step mode
's' one step at a time; outputs are SpikingJelly's spikes. Every case is read with
the ``spikingjelly`` preset and no overrides.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import nir
import nirtorch
import numpy as np
import torch
from spikingjelly.activation_based import functional, layer, neuron

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, Entry, save_case, spike_input, write_manifest

N_IN, N_HID, N_OUT = 12, 10, 6
CONV_IN = (2, 8, 8)
DT = 1e-4  # the exporter's default dt
NIR_WRITTEN_BY = (
    "These .nir files were written by scripts/framework_fixtures/spikingjelly_fixtures.py, "
    "not by SpikingJelly: no released SpikingJelly exports NIR (the 0.0.0.0.14 wheel has no "
    "NIR module). The script follows the parameter mapping of the exporter in SpikingJelly's "
    "GitHub repository, fangwei123456/spikingjelly "
    "spikingjelly/activation_based/nir_exchange/to_nir.py at commit "
    "e2027aa46c4e71c946b0082de5845002315d1fcd (dt 1e-4, its default), with nir's own "
    "dataclasses traced by nirtorch.torch_to_nir; y is SpikingJelly 0.0.0.0.14's own "
    "simulation of the same modules."
)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _shape(module: torch.nn.Module) -> tuple[int, ...]:
    """The shape of one sample at a neuron (what the exporter takes from its trace)."""
    return tuple(module.sample_shape)


def _linear(m: torch.nn.Linear) -> nir.NIRNode:
    if m.bias is None:
        return nir.Linear(_np(m.weight))
    return nir.Affine(_np(m.weight), _np(m.bias))


def _conv2d(m: torch.nn.Conv2d) -> nir.NIRNode:
    bias = np.zeros(m.weight.shape[0]) if m.bias is None else _np(m.bias)
    return nir.Conv2d(
        input_shape=tuple(m.sample_shape[-2:]),
        weight=_np(m.weight),
        stride=m.stride,
        padding=m.padding,
        dilation=m.dilation,
        groups=m.groups,
        bias=bias,
    )


def _avgpool2d(m: torch.nn.AvgPool2d) -> nir.NIRNode:
    return nir.AvgPool2d(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding)


def _flatten(m: torch.nn.Flatten) -> nir.NIRNode:
    start = m.start_dim - 1 if m.start_dim > 0 else m.start_dim
    end = m.end_dim - 1 if m.end_dim > 0 else m.end_dim
    return nir.Flatten(input_type={"input": np.array(_shape(m))}, start_dim=start, end_dim=end)


def _if(m: neuron.IFNode) -> nir.NIRNode:
    shape = _shape(m)
    return nir.IF(
        r=np.full(shape, 1 / DT),
        v_threshold=np.full(shape, m.v_threshold),
        v_reset=np.full(shape, m.v_reset),
    )


def _lif(m: neuron.LIFNode) -> nir.NIRNode:
    shape = _shape(m)
    return nir.LIF(
        tau=np.full(shape, m.tau * DT),
        r=np.full(shape, 1.0 if m.decay_input else m.tau),
        v_leak=np.full(shape, m.v_reset),
        v_threshold=np.full(shape, m.v_threshold),
        v_reset=np.full(shape, m.v_reset),
    )


MAPPING: dict[type, Callable[[torch.nn.Module], nir.NIRNode]] = {
    layer.Linear: _linear,
    layer.Conv2d: _conv2d,
    layer.AvgPool2d: _avgpool2d,
    layer.Flatten: _flatten,
    neuron.IFNode: _if,
    neuron.LIFNode: _lif,
}


def _keep_shape(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
    module.sample_shape = args[0].shape[1:]  # without the batch


def record_shapes(net: torch.nn.Module, shape: tuple[int, ...]) -> None:
    """Each mapped module's input shape of one sample (``sample_shape``), by one
    single-step pass of a zero sample: the shapes the exporter's ``ShapeProp`` finds."""
    modes = {m: m.step_mode for m in net.modules() if hasattr(m, "step_mode")}
    functional.set_step_mode(net, "s")
    hooks = [m.register_forward_pre_hook(_keep_shape) for m in net.modules() if type(m) in MAPPING]
    with torch.no_grad():
        net(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    for m, mode in modes.items():
        m.step_mode = mode
    functional.reset_net(net)


def export(net: torch.nn.Module, shape: tuple[int, ...]) -> nir.NIRGraph:
    record_shapes(net, shape)
    return nirtorch.torch_to_nir(net, MAPPING, type_check=True)


def _neuron(kind: str, mode: str, **kw: object) -> torch.nn.Module:
    cls = neuron.IFNode if kind == "if" else neuron.LIFNode
    return cls(step_mode=mode, **kw)


def mlp(
    kind: str, mode: str = "m", bias: bool = True, gain: float = 1.0, **kw: object
) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            layer.Linear(N_IN, N_HID, bias=bias, step_mode=mode),
            _neuron(kind, mode, **kw),
            layer.Linear(N_HID, N_OUT, bias=bias, step_mode=mode),
            _neuron(kind, mode, **kw),
        )
        with torch.no_grad():
            net[0].weight.mul_(gain)
            net[2].weight.mul_(gain)
        return net

    return build


def conv(mode: str = "m") -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            layer.Conv2d(2, 4, 3, padding=1, bias=False, step_mode=mode),
            neuron.IFNode(step_mode=mode),
            layer.AvgPool2d(2, step_mode=mode),
            layer.Flatten(step_mode=mode),
            layer.Linear(4 * 4 * 4, N_OUT, step_mode=mode),
            neuron.LIFNode(tau=2.0, step_mode=mode),
        )
        with torch.no_grad():
            net[0].weight.mul_(4.0)
            net[4].weight.mul_(24.0)
        return net

    return build


def _entry(name: str, setting: str) -> Entry:
    return Entry(name, setting, "spikingjelly")


CASES: list[tuple[Entry, Callable[[], torch.nn.Module], tuple[int, ...]]] = [
    (
        _entry(
            "lif_mlp",
            "LIFNode, defaults (tau 2, decay_input, hard reset to 0), MLP + bias, step_mode 'm'",
        ),
        mlp("lif", gain=12.0),
        (N_IN,),
    ),
    (
        _entry("lif_mlp_nobias_s", "LIFNode, defaults, MLP without bias, step_mode 's'"),
        mlp("lif", mode="s", bias=False, gain=12.0),
        (N_IN,),
    ),
    (
        _entry("lif_tau", "LIFNode, tau 5, v_threshold 0.7, MLP + bias"),
        mlp("lif", gain=16.0, tau=5.0, v_threshold=0.7),
        (N_IN,),
    ),
    (
        _entry("lif_no_decay_input", "LIFNode, tau 3, decay_input=False, v_threshold 1.2"),
        mlp("lif", gain=8.0, tau=3.0, decay_input=False, v_threshold=1.2),
        (N_IN,),
    ),
    (
        _entry("lif_v_reset", "LIFNode, tau 4, v_reset -0.3, v_threshold 0.6"),
        mlp("lif", gain=16.0, tau=4.0, v_reset=-0.3, v_threshold=0.6),
        (N_IN,),
    ),
    (
        _entry(
            "if_mlp", "IFNode, defaults (hard reset to 0, v_threshold 1), MLP + bias, step_mode 'm'"
        ),
        mlp("if", gain=8.0),
        (N_IN,),
    ),
    (
        _entry("if_mlp_s", "IFNode, v_threshold 1.5, MLP without bias, step_mode 's'"),
        mlp("if", mode="s", bias=False, gain=12.0, v_threshold=1.5),
        (N_IN,),
    ),
    (
        _entry("if_v_reset", "IFNode, v_reset -0.5, v_threshold 0.8"),
        mlp("if", gain=8.0, v_reset=-0.5, v_threshold=0.8),
        (N_IN,),
    ),
    (
        _entry("conv", "IFNode + LIFNode, Conv2d + AvgPool2d + Flatten + Linear, step_mode 'm'"),
        conv(),
        CONV_IN,
    ),
]


def simulate(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """SpikingJelly steps all samples as one batch: ``[T, B, ...]``; 's' step by step."""
    net.eval()
    functional.reset_net(net)
    seq = torch.as_tensor(x, dtype=torch.float32).transpose(0, 1)  # [T, B, ...]
    mode = next(m.step_mode for m in net.modules() if isinstance(m, neuron.BaseNode))
    with torch.no_grad():
        y = net(seq) if mode == "m" else torch.stack([net(step) for step in seq])
    functional.reset_net(net)
    return y.transpose(0, 1).numpy()


def main() -> None:
    folder = DATA / "spikingjelly"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (entry, build, shape) in enumerate(CASES):
        net = build()
        nir.write(folder / f"{entry.name}.nir", export(net, shape))
        x = spike_input(400 + i, shape)
        y = simulate(net, x)
        save_case("spikingjelly", entry, x, y)
        print(f"{entry.name}: mean {y.mean():.3f}, output spikes {y.sum():.0f}")
    write_manifest(
        "spikingjelly",
        [entry for entry, _, _ in CASES],
        {
            "spikingjelly": version("spikingjelly"),
            "nir": nir.version,
            "nirtorch": version("nirtorch"),
            "torch": torch.__version__,
        },
        nir_written_by=NIR_WRITTEN_BY,
    )


if __name__ == "__main__":
    main()
