"""Hostile files in CI: every named case of ``scripts/fuzz.py``, a bounded random sample of
its mutations, and hypothesis properties of the readers that face untrusted bytes.

``scripts/fuzz.py --cases 2000`` runs thousands; here each named case (one or more per
class of issue #18: code execution, files outside, outputs onto inputs, geometry,
values, sizes, inputs, TOML, .sfnet structure, options, pipes) is a regression test
that must end as its expectation says, and 40 random mutations must all end cleanly.
"""

from __future__ import annotations

import importlib.util
import io
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.compile.codec import decode
from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.npy_guard import read_npy

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fuzz.py"
spec = importlib.util.spec_from_file_location("spikeforge_fuzz", SCRIPT)
fuzz = importlib.util.module_from_spec(spec)
sys.modules["spikeforge_fuzz"] = fuzz
spec.loader.exec_module(fuzz)

#: Per case; the slowest named case (a 512 MiB unused .sfnet member) takes ~1 s.
TIMEOUT_S = 60.0
RANDOM_CASES = 40


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    return fuzz.make_base(tmp_path_factory.mktemp("fuzz-base"))


@pytest.fixture(scope="module")
def named(base) -> dict:
    return {case.name: case for case in fuzz.named_cases(base)}


def _names() -> list[str]:
    # Collected without building files: the names are fixed by the generator's code.
    base = fuzz.Base(Path("/nonexistent"))
    return [case.name for case in fuzz.named_cases(base)]


def _check(outcome) -> None:
    case = outcome.case
    assert outcome.kind not in fuzz.TARGET_ZERO, f"{case.name}: {outcome.kind}: {outcome.detail}"
    if case.expect == fuzz.REFUSE:
        assert outcome.kind == "clean", f"{case.name}: {outcome.kind}: {outcome.detail}"
        assert not outcome.detail.startswith("[fragment"), outcome.detail
    assert outcome.seconds < TIMEOUT_S


@pytest.mark.parametrize("name", _names())
def test_named_case(name: str, named: dict, tmp_path: Path) -> None:
    _check(fuzz.run_case(named[name], tmp_path, TIMEOUT_S))


def test_random_mutations(base, tmp_path: Path) -> None:
    rng = random.Random(20261204)
    cases = fuzz.nir_mutation_cases(base, rng, RANDOM_CASES // 2) + fuzz.sfnet_mutation_cases(
        base, rng, RANDOM_CASES // 2
    )
    outcomes = [fuzz.run_case(case, tmp_path, TIMEOUT_S) for case in cases]
    bad = [f"{o.case.name}: {o.kind}: {o.detail}" for o in outcomes if o.kind in fuzz.TARGET_ZERO]
    assert not bad, "\n".join(bad)
    # The sample is not vacuous: mutations are refused cleanly.
    assert any(o.kind == "clean" for o in outcomes)


def test_random_netx_mutations(base, tmp_path: Path) -> None:
    rng = random.Random(20261204)
    outcomes = [
        fuzz.run_case(c, tmp_path, TIMEOUT_S) for c in fuzz.netx_mutation_cases(base, rng, 20)
    ]
    bad = [f"{o.case.name}: {o.kind}: {o.detail}" for o in outcomes if o.kind in fuzz.TARGET_ZERO]
    assert not bad, "\n".join(bad)


def test_fuzzer_detects_what_it_claims(base, tmp_path: Path) -> None:
    """The classifier itself can fail: a case that runs code, or damages its input, or
    is accepted when it must be refused, is reported as such."""

    def touch(d: Path) -> list[str]:
        (d / fuzz.SENTINEL).write_text("x")
        return ["models"]

    outcome = fuzz.run_case(fuzz.Case("sentinel", "self-test", touch), tmp_path, TIMEOUT_S)
    assert outcome.kind == "exec"

    def accepted(d: Path) -> list[str]:
        return ["models"]

    outcome = fuzz.run_case(fuzz.Case("accept", "self-test", accepted), tmp_path, TIMEOUT_S)
    assert outcome.kind == "silent"


# ----------------------------------------------------------------------------- properties


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=512), cut=st.integers(0, 200))
def test_npy_reader_on_arbitrary_bytes(data: bytes, cut: int) -> None:
    """Any bytes, including a valid header followed by garbage, give an array or a
    SpikeforgeError naming the source; never another exception."""
    for blob in (data, _npy_bytes(np.ones((3, 4)))[:cut] + data):
        try:
            array = read_npy(io.BytesIO(blob), len(blob), "x.npy")
        except SpikeforgeError as exc:
            assert str(exc).startswith("x.npy: ")
        else:
            assert array.dtype.kind in "biuf"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(header=_json)
def test_sfnet_decoder_on_arbitrary_json(header: object) -> None:
    """Random JSON as a compiled network is refused with a SpikeforgeError, never crashes."""
    with pytest.raises(SpikeforgeError):
        decode(header, CompiledNet, "net", {}, "compiled")


@settings(max_examples=60, deadline=None)
@given(path_index=st.integers(0, 10_000), value=_json)
def test_sfnet_decoder_on_one_mutated_field(path_index: int, value: object) -> None:
    """One field of a valid header replaced by random JSON: decoded and checked, or refused."""
    from spikeforge.compile import sfnet_checks

    reference = SCRIPT.parent.parent / "tests" / "data" / "reference_v3.sfnet"
    with np.load(reference) as data:
        header = json.loads(str(data["__header__"]))
        arrays = {k: data[k] for k in data.files if k != "__header__"}
    paths = list(fuzz._json_paths(header["compiled"], ()))
    fuzz._set(paths[path_index % len(paths)], value)(header["compiled"], arrays)
    try:
        compiled = decode(header["compiled"], CompiledNet, "net", arrays, "compiled")
        sfnet_checks.check_compiled(compiled)
    except SpikeforgeError:
        pass
