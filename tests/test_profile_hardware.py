"""Hardware model files: the shipped ones are complete and sourced; bad files are refused clearly.

Every error must name the file, the key and the problem, because a typo in a
hand-edited model would otherwise silently change every energy figure.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import tomli

from spikeforge.errors import SpikeforgeError
from spikeforge.profile.hardware import (
    HARDWARE_DIR,
    KINDS,
    available,
    load_hardware,
    parse_hardware,
)

SHIPPED = ["loihi1", "loihi2"]


def _document(name: str = "loihi2") -> dict:
    with open(HARDWARE_DIR / f"{name}.toml", "rb") as fh:
        return tomli.load(fh)


def _write(path: Path, data: dict) -> Path:
    """Serialise the (flat, inline-table) documents these tests build."""

    def value(v: object) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, str):
            return '"' + v.replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_load_with_a_source_and_kind_for_every_number(name):
    hw = load_hardware(name)
    assert hw.name == name
    assert hw.cores_per_chip == 128  # both Loihi generations: 128 neuro cores per chip
    for key, entry in hw.entries().items():
        assert entry.kind in KINDS, key
        assert entry.source.strip(), key


def test_loihi2_per_event_figures_are_never_labelled_measured():
    """Intel published no per-operation energy or latency for Loihi 2: a figure is an
    estimate or calibrated on PilotNet (1 network), and says which."""
    hw = load_hardware("loihi2")
    for section in ("energy", "latency"):
        for key, entry in getattr(hw, section).items():
            assert entry.kind in ("estimated", "calibrated"), f"{section}.{key}"
            if entry.kind == "calibrated":
                assert "calibrated (PilotNet LIF, 1 network)" in entry.source, key
    assert hw.barrier.kind == "estimated"
    assert hw.power["static_per_chip"].kind == "measured"


def test_davies_figures_in_loihi1():
    hw = load_hardware("loihi1")
    assert hw.energy["synaptic_op"].value == pytest.approx(23.6e-12)
    assert hw.energy["neuron_update_active"].value == pytest.approx(81e-12)
    assert hw.energy["neuron_update_inactive"].value == pytest.approx(52e-12)
    assert hw.latency["hop_north_south"].value == pytest.approx(6.5e-9)
    # Barrier: 113 ns for 1 tile to 465 ns for 32, linear in between, clamped outside.
    assert hw.barrier.at(1) == pytest.approx(113e-9)
    assert hw.barrier.at(32) == pytest.approx(465e-9)
    assert hw.barrier.at(64) == pytest.approx(465e-9)
    assert hw.barrier.at(16.5) == pytest.approx((113e-9 + 465e-9) / 2)


def test_shipped_names_and_a_path_both_work(tmp_path):
    assert set(SHIPPED) <= set(available())
    path = _write(tmp_path / "mine.toml", _document())
    assert load_hardware(path).limits == load_hardware("loihi2").limits
    assert load_hardware(str(path)).path == path


def test_with_values_changes_only_what_it_names():
    base = load_hardware("loihi2")
    small = base.with_values("small", {"limits.neurons": 64, "energy.synaptic_op": 1e-12})
    assert small.limit("neurons") == 64 and base.limit("neurons") == 3168
    assert small.energy["synaptic_op"].value == 1e-12
    assert "changed from" in small.energy["synaptic_op"].source
    assert small.latency == base.latency
    with pytest.raises(SpikeforgeError, match=r"no entry 'limits\.nerons'"):
        base.with_values("x", {"limits.nerons": 1})


def _broken(**edits) -> dict:
    data = copy.deepcopy(_document())
    for path, value in edits.items():
        *parents, last = path.split("__")
        table = data
        for p in parents:
            table = table[p]
        if value is _DELETE:
            del table[last]
        else:
            table[last] = value
    return data


_DELETE = object()
SYN = "energy.synaptic_op"
ENERGY = {"value": 1e-12, "unit": "J", "kind": "estimated", "source": "x"}
NEURONS = _document()["limits"]["neurons"]
BARRIER = _document()["latency"]["barrier"]
LAYER_CORES = _document()["calibration"]["layer_cores"]
LC = "calibration.layer_cores"


def _layer_cores(**layers) -> dict:
    return {**LAYER_CORES, "value": {**LAYER_CORES["value"], **layers}}


@pytest.mark.parametrize(
    ("edits", "key", "problem"),
    [
        ({"energy__synaptic_op": _DELETE}, SYN, "missing"),
        ({"energy__synaptic_op": 23.6e-12}, SYN, "got a bare value"),
        ({"energy__synaptic_op": {**ENERGY, "unit": "pJ"}}, SYN, "unit must be 'J'"),
        ({"energy__synaptic_op": {**ENERGY, "kind": "guessed"}}, SYN, "kind must be one of"),
        ({"energy__synaptic_op": {**ENERGY, "source": ""}}, SYN, "source missing"),
        ({"energy__synaptic_op": {**ENERGY, "value": -1.0}}, SYN, ">= 0"),
        ({"energy__synaptic_op": {**ENERGY, "value": "1e-12"}}, SYN, "must be a number"),
        ({"energy__synaptic_opp": ENERGY}, "energy.synaptic_opp", "unknown key"),
        ({"limits__neurons": {**NEURONS, "value": 10.5}}, "limits.neurons", "whole number"),
        (
            {"latency__barrier": {**BARRIER, "tiles": [1, 2, 3]}},
            "latency.barrier",
            "'tiles' has 3 entries but 'value' has 2",
        ),
        ({"latency__barrier": {**BARRIER, "tiles": [32, 1]}}, "latency.barrier", "increase"),
        ({"power": _DELETE}, "power", "missing section"),
        ({"calibration__layer_cores": _layer_cores(layer1=24.5)}, f"{LC}.layer1", "whole number"),
        ({"calibration__layer_cores": _layer_cores(layer1=0)}, f"{LC}.layer1", "from 1 to"),
        ({"calibration__layer_cores": _layer_cores(layer1=10**9)}, f"{LC}.layer1", "(74), got 10"),
        ({"calibration__layer_cores": _layer_cores(layer1=True)}, f"{LC}.layer1", "got True"),
        ({"calibration__layer_cores": _layer_cores(layer1="25")}, f"{LC}.layer1", "got '25'"),
        ({"calibration__layer_cores": _layer_cores(layer1=24)}, LC, "sum to 73 cores but"),
        ({"calibration__layer_cores": {**LAYER_CORES, "value": 74}}, LC, "must be a table"),
        ({"calibration__layer_cores": {**LAYER_CORES, "value": {}}}, LC, "at least one layer"),
        ({"calibration__layer_cores": {**LAYER_CORES, "unit": "cores"}}, LC, "unit must be"),
        ({"calibration__layer_cores": 13}, LC, "got a bare value"),
        ({"calibration__layer_core": LAYER_CORES}, "calibration.layer_core", "unknown key"),
        ({"schema": 2}, "schema", "must be 1"),
        ({"colour": "blue"}, "colour", "unknown key"),
    ],
)
def test_a_bad_file_names_file_key_and_problem(tmp_path, edits, key, problem):
    path = _write(tmp_path / "bad.toml", _broken(**edits))
    with pytest.raises(SpikeforgeError) as info:
        load_hardware(path)
    message = str(info.value)
    assert message.startswith(f"hardware file {path}: {key}: "), message
    assert problem in message


def test_not_toml_and_unknown_names(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[energy\nsynaptic_op = 1\n")
    with pytest.raises(SpikeforgeError, match=re.escape(f"hardware file {bad}: not valid TOML")):
        load_hardware(bad)
    with pytest.raises(SpikeforgeError, match=r"no hardware model 'loihi3'.*loihi1.*loihi2"):
        load_hardware("loihi3")
    with pytest.raises(SpikeforgeError, match="no such file"):
        load_hardware(tmp_path / "absent.toml")


def test_parse_without_a_file_names_the_model():
    with pytest.raises(SpikeforgeError, match=r"^hardware model: name: missing"):
        parse_hardware({**_document(), "name": ""})


def test_loihi2_layer_cores_are_intels_measured_placement():
    """MEASURED.md's per-layer table, in one place: loihi2.toml's [calibration]."""
    hw = load_hardware("loihi2")
    layers = hw.calibration_layer_cores
    assert layers is not None and layers.kind == "measured" and "MEASURED.md" in layers.source
    assert layers.value["layer1"] == 25 and layers.value["layer7"] == 12
    assert layers.total == hw.calibration["cores"].value == 74
    assert hw.entries()["calibration.layer_cores"] is layers
    assert load_hardware("loihi1").calibration_layer_cores is None  # optional


def test_layer_cores_are_optional_within_a_calibration(tmp_path):
    path = _write(tmp_path / "no_layers.toml", _broken(calibration__layer_cores=_DELETE))
    hw = load_hardware(path)
    assert hw.calibration_layer_cores is None and hw.calibration["cores"].value == 74
