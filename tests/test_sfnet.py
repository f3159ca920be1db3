"""The ``.sfnet`` file: an exact round trip, clear refusals, and atomic writes."""

from __future__ import annotations

import dataclasses
import json
import math
import zipfile
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from spikeforge.compile import CompiledNet, compile_network, load, load_or_compile, save
from spikeforge.compile.compiled import FORMAT, FORMAT_VERSION
from spikeforge.errors import SpikeforgeError
from spikeforge.export import to_nir, write_nir
from spikeforge.ir.nir_import import from_nir
from spikeforge.models.examples import EXAMPLES
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import calibrate_on

DT = 1e-3


def _spikes(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < 0.4).astype(np.float64)


def _compile(
    name: str, calibrate: bool = False, dt: float | None = None, **options: object
) -> CompiledNet:
    """An example compiled; ``dt`` discretises its exported graph at another step (the
    graph then forgets the dt it was exported with)."""
    factory, shape = EXAMPLES[name]
    exported = to_nir(factory(), torch.zeros(shape), dt=DT)
    if dt is not None:
        exported.metadata.pop("dt")
    graph = from_nir(exported, dt=dt)
    calibration = calibrate_on(_spikes((2, 15, *shape), seed=7)) if calibrate else None
    return compile_network(graph, calibration=calibration, **options)


def _assert_identical(a: object, b: object, where: str = "net") -> None:
    """Exact equality, recursively: same types, same dtypes and shapes, same values."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            _assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{where}: values differ"
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


CASES = {
    # bias source into current-based populations, fixed-point default
    "lif_mlp": dict(name="lif_mlp"),
    # a recurrent (delayed) connection, calibrated scales (peaks saved), float default
    "recurrent-calibrated-float": dict(name="recurrent", calibrate=True, precision="float"),
    # convolution collapsed to a matrix, two weight planes
    "conv_net-2planes": dict(name="conv_net", weight_planes=2),
    "iaf_mlp-calibrated": dict(name="iaf_mlp", calibrate=True),
    # a third plane of fractions with pacemakers, calibrated
    "recurrent-3planes-calibrated": dict(name="recurrent", calibrate=True, weight_planes=3),
    # time constants 12 bits round (dt/tau = 0.275, 0.1375), held in 24-bit decays (SfLif)
    "lif_mlp-24bit-decays": dict(name="lif_mlp", dt=1.1e-3, decay_bits=24),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    compiled = _compile(**CASES[request.param])
    path = tmp_path_factory.mktemp("sfnet") / f"{request.param}.sfnet"
    save(compiled, path)
    return request.param, compiled, path


def test_round_trip_network_and_timing(case) -> None:
    name, compiled, path = case
    loaded = load(path)
    _assert_identical(compiled.network, loaded.network, "network")
    _assert_identical(compiled.timing, loaded.timing, "timing")
    _assert_identical(compiled.peaks, loaded.peaks, "peaks")
    assert loaded.precision == compiled.precision
    assert loaded.weight_planes == compiled.weight_planes
    assert loaded.allow_timing_divergence == compiled.allow_timing_divergence
    assert loaded.output_latency == compiled.output_latency
    if "calibrated" in name:
        assert loaded.peaks is not None and set(loaded.peaks) == set(compiled.network.populations)
    else:
        assert loaded.peaks is None


def test_round_trip_plans(case) -> None:
    _, compiled, path = case
    loaded = load(path)
    _assert_identical(compiled.float_plan, loaded.float_plan, "float_plan")
    _assert_identical(compiled.fixed_plan, loaded.fixed_plan, "fixed_plan")
    _assert_identical(compiled.quant_report, loaded.quant_report, "quant_report")
    # The fixed-point numbers Loihi gets, spelled out.
    a, b = compiled.fixed_plan, loaded.fixed_plan
    assert a.precision == b.precision == "fixed"
    assert [(s.pre, s.post) for s in a.synapses] == [(s.pre, s.post) for s in b.synapses]
    for s, t in zip(a.synapses, b.synapses, strict=True):
        np.testing.assert_array_equal(s.weights, t.weights)
        assert s.weight_exp == t.weight_exp and s.extra_delay == t.extra_delay
        assert s.always_on == t.always_on
    for pop_name, p in a.populations.items():
        q = b.populations[pop_name]
        assert (p.vth, p.du, p.dv) == (q.vth, q.du, q.dv)
        np.testing.assert_array_equal(p.bias_mant, q.bias_mant)
        np.testing.assert_array_equal(p.bias_exp, q.bias_exp)
        np.testing.assert_array_equal(p.scale, q.scale)
    assert loaded.plan() is (loaded.float_plan if loaded.precision == "float" else b)


def test_round_trip_reference_outputs(case) -> None:
    _, compiled, path = case
    loaded = load(path)
    shape = next(iter(compiled.network.inputs.values()))
    x = _spikes((2, 25, *shape), seed=3)
    record = list(compiled.network.populations)
    before, after = run(compiled, x, record=record), run(loaded, x, record=record)
    assert sum(float(o.sum()) for o in before.outputs.values()) > 0
    _assert_identical(before.outputs, after.outputs, "outputs")
    _assert_identical(before.spikes, after.spikes, "spikes")
    _assert_identical(before.v, after.v, "v")


def test_save_of_loaded_is_identical(case, tmp_path: Path) -> None:
    _, _, path = case
    again = tmp_path / "again.sfnet"
    save(load(path), again)
    with np.load(path) as first, np.load(again) as second:
        assert sorted(first.files) == sorted(second.files)
        assert json.loads(str(first["__header__"])) == json.loads(str(second["__header__"]))
        for key in first.files:
            _assert_identical(first[key], second[key], key)


def test_compile_from_nir_file_round_trip(tmp_path: Path) -> None:
    factory, shape = EXAMPLES["lif_mlp"]
    graph_path = write_nir(to_nir(factory(), torch.zeros(shape), dt=DT), tmp_path / "g.nir")
    compiled = load_or_compile(graph_path)
    metadata = dict(compiled.network.metadata)
    assert metadata.pop("conventions").startswith("conventions (norse)")
    assert metadata == {"exporter": "spikeforge", "source": "norse"}
    save(compiled, tmp_path / "g.sfnet")
    loaded = load_or_compile(tmp_path / "g.sfnet")
    _assert_identical(compiled.network, loaded.network)
    _assert_identical(compiled.fixed_plan, loaded.fixed_plan)


# ------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.sfnet"
    save(_compile("lif_mlp"), path)
    return path


def _contents(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path) as data:
        header = json.loads(str(data["__header__"]))
        arrays = {k: data[k] for k in data.files if k != "__header__"}
    return header, arrays


def _rewrite(path: Path, header: object, arrays: dict[str, np.ndarray]) -> Path:
    text = header if isinstance(header, str) else json.dumps(header)
    with open(path, "wb") as fh:  # a file object: numpy would append .npz to a name
        np.savez_compressed(fh, __header__=np.array(text), **arrays)
    return path


def _refused(path: Path, *fragments: str) -> str:
    with pytest.raises(SpikeforgeError) as exc:
        load(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_load_missing_file(tmp_path: Path) -> None:
    _refused(tmp_path / "nope.sfnet", "no such file")


def test_load_truncated(good: Path, tmp_path: Path) -> None:
    data = good.read_bytes()
    for fraction in (0.5, 0.9):
        cut = tmp_path / f"cut{fraction}.sfnet"
        cut.write_bytes(data[: int(len(data) * fraction)])
        _refused(cut, "not a spikeforge compiled network")


def test_load_empty_and_text(tmp_path: Path) -> None:
    (tmp_path / "empty.sfnet").write_bytes(b"")
    _refused(tmp_path / "empty.sfnet", "not a spikeforge compiled network")
    (tmp_path / "text.sfnet").write_text("population 1: 30 neurons\n")
    _refused(tmp_path / "text.sfnet", "not a spikeforge compiled network")


def test_load_nir_file_as_sfnet(tmp_path: Path) -> None:
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([2])}),
            "out": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("in", "out")],
    )
    nir.write(tmp_path / "g.sfnet", graph)
    _refused(tmp_path / "g.sfnet", "not a spikeforge compiled network")


def test_load_damaged_compressed_data(good: Path, tmp_path: Path) -> None:
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = max(zf.infolist(), key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + info.compress_size // 3
    for i in range(start, start + 48):
        data[i] ^= 0xFF
    damaged = tmp_path / "damaged.sfnet"
    damaged.write_bytes(bytes(data))
    _refused(damaged, "not a spikeforge compiled network")


def test_load_npz_without_header(tmp_path: Path) -> None:
    with open(tmp_path / "plain.sfnet", "wb") as fh:
        np.savez_compressed(fh, weights=np.ones((3, 3)))
    _refused(tmp_path / "plain.sfnet", "not a spikeforge compiled network", "__header__")


def test_load_header_not_json(good: Path, tmp_path: Path) -> None:
    _, arrays = _contents(good)
    _refused(_rewrite(tmp_path / "bad.sfnet", "{not json", arrays), "not a spikeforge")
    _refused(_rewrite(tmp_path / "list.sfnet", "[1, 2]", arrays), "not a spikeforge")


def test_load_other_format(good: Path, tmp_path: Path) -> None:
    header, arrays = _contents(good)
    assert header["format"] == FORMAT
    header["format"] = "something.else"
    _refused(
        _rewrite(tmp_path / "other.sfnet", header, arrays), "not a spikeforge compiled network"
    )


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, None, "1"])
def test_load_wrong_version(good: Path, tmp_path: Path, version: object) -> None:
    header, arrays = _contents(good)
    assert header["version"] == FORMAT_VERSION
    if version is None:
        del header["version"]
    else:
        header["version"] = version
    message = _refused(
        _rewrite(tmp_path / "old.sfnet", header, arrays),
        f"format version {version!r},",
        f"reads version {FORMAT_VERSION}",
        "compile the source graph again",
    )
    assert "corrupt" not in message


def test_load_header_missing_section(good: Path, tmp_path: Path) -> None:
    header, arrays = _contents(good)
    del header["compiled"]["network"]["populations"]
    _refused(
        _rewrite(tmp_path / "bad.sfnet", header, arrays),
        "corrupt compiled network",
        "compiled.network.populations is missing",
    )


def test_load_missing_array(good: Path, tmp_path: Path) -> None:
    header, arrays = _contents(good)
    key = "net/network/connections/0/weight"
    del arrays[key]
    _refused(
        _rewrite(tmp_path / "bad.sfnet", header, arrays),
        "corrupt compiled network",
        "compiled.network.connections[0].weight",
        key,
    )


def test_load_refuses_decay_bits_outside_what_was_compiled(tmp_path: Path) -> None:
    """A population's decay width is 12 or the network's ``decay_bits``, within 12..24:
    anything else would run other time constants than were compiled, or overflow."""
    path = tmp_path / "wide.sfnet"
    save(_compile("lif_mlp", dt=1.1e-3, decay_bits=24), path)
    header, arrays = _contents(path)
    pops = header["compiled"]["fixed_plan"]["populations"]
    name = next(n for n, p in pops.items() if p["decay_bits"] == 24)
    header["compiled"]["decay_bits"] = 20
    _refused(
        _rewrite(tmp_path / "mixed.sfnet", header, arrays),
        f"fixed_plan.populations['{name}'].decay_bits", "= 24", "the network's 20",
    )  # fmt: skip
    pops[name]["decay_bits"] = 20  # its du no longer fits a 20-bit fraction
    _refused(_rewrite(tmp_path / "narrow.sfnet", header, arrays), f"['{name}'].du", "1048575")
    header["compiled"]["decay_bits"] = pops[name]["decay_bits"] = 40
    _refused(_rewrite(tmp_path / "wide40.sfnet", header, arrays), "decay_bits", "[12, 24]")


def test_load_unmodified_rewrite_is_accepted(good: Path, tmp_path: Path) -> None:
    # Control for the tests above: rewriting the same contents loads fine.
    header, arrays = _contents(good)
    copy = load(_rewrite(tmp_path / "same.sfnet", header, arrays))
    _assert_identical(load(good).fixed_plan, copy.fixed_plan)


# ------------------------------------------------------------------- atomic save


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_save_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _compile("lif_mlp")
    calls = []

    def disk_full(file, *args, **kwargs):
        calls.append(file)
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    target = tmp_path / "net.sfnet"
    with pytest.raises(SpikeforgeError, match=r"cannot write compiled network to .*net\.sfnet"):
        save(compiled, target)
    assert calls, "the patched writer was not used"
    assert not target.exists()
    assert _temporaries(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_save_failure_keeps_previous_file(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "net.sfnet"
    target.write_bytes(good.read_bytes())
    before = target.read_bytes()
    compiled = _compile("lifbox_mlp")

    def crash(file, *args, **kwargs):
        file.write(b"garbage")
        raise RuntimeError("simulated crash while writing")

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save(compiled, target)
    assert target.read_bytes() == before
    assert _temporaries(tmp_path) == []
    monkeypatch.undo()
    # The untouched file is still the lif_mlp network, not a half-written lifbox_mlp.
    assert [p.kind for p in load(target).network.populations.values()] == ["CubaLIF", "CubaLIF"]


# ------------------------------------------------------------------- a file from the past

DATA = Path(__file__).parent / "data"


def test_reference_file_runs_bit_identically() -> None:
    """tests/data/reference_v3.sfnet (scripts/make_reference_sfnet.py) keeps its meaning:
    the emulator's fixed-point spikes and voltages equal those stored when it was written.
    Exact equality: the emulator is integer arithmetic at fixed precision."""
    compiled = load(DATA / "reference_v3.sfnet")
    with np.load(DATA / "reference_v3_expected.npz") as stored:
        expected = {k: stored[k] for k in stored.files}
    result = run(
        compiled,
        expected["input"].astype(np.float64),
        backend="emulator",
        precision="fixed",
        device="cpu",
        record=list(compiled.network.populations),
    )
    assert expected["output"].sum() > 0, "the stored run must have output spikes to compare"
    np.testing.assert_array_equal(result.output, expected["output"])
    for name in compiled.network.populations:
        np.testing.assert_array_equal(result.spikes[name], expected[f"{name}.spikes"])
        np.testing.assert_array_equal(result.v[name], expected[f"{name}.v"])


def test_load_never_runs_the_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading reads the stored plans: lower() and quantize() are not called."""
    import spikeforge.compile.compiled as compiled_module

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pass ran during load")

    monkeypatch.setattr(compiled_module, "lower", forbidden)
    monkeypatch.setattr(compiled_module, "quantize", forbidden)
    assert load(DATA / "reference_v3.sfnet").weight_planes == 3


def test_version_2_file_is_refused_clearly(good: Path, tmp_path: Path) -> None:
    header, arrays = _contents(good)
    header["version"] = 2
    _refused(
        _rewrite(tmp_path / "v2.sfnet", header, arrays),
        "format version 2,",
        "reads version 3",
        "compile the source graph again",
    )
