"""``spikeforge profile`` end to end on the spine's example networks, through ``main``.

Checks that the report is complete and self-consistent (breakdowns add up to the
totals, figures exist and are PNGs), that the stages agree where the pipeline is
exact, and that user errors end in one line and exit 2 with nothing written.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from spikeforge.checkpoint import save_checkpoint
from spikeforge.cli import main
from spikeforge.models.examples import EXAMPLES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _example(tmp_path: Path, name: str, batch: int = 2, steps: int = 20) -> tuple[Path, Path, Path]:
    factory, shape = EXAMPLES[name]
    checkpoint = tmp_path / f"{name}.pt"
    save_checkpoint(factory(), f"spikeforge.models.examples:{name}", {}, checkpoint)
    graph = tmp_path / f"{name}.nir"
    assert (
        main(
            [
                "export",
                str(checkpoint),
                "-o",
                str(graph),
                "--input-shape",
                ",".join(map(str, shape)),
            ]
        )
        == 0
    )
    inputs = tmp_path / "x.npy"
    rng = np.random.default_rng(0)
    np.save(inputs, (rng.random((batch, steps, *shape)) < 0.3).astype(np.float32))
    return checkpoint, graph, inputs


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _check_report(directory: Path) -> dict:
    data = json.loads((directory / "profile.json").read_text())
    assert data["format"] == "spikeforge.profile" and data["version"] == 3
    report = (directory / "report.md").read_text()
    for name in data["figures"].values():
        png = (directory / name).read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 1000, name
        assert f"]({name})" in report
    for key, entry in data["hardware"]["entries"].items():
        assert entry["kind"] and entry["source"], key
    for stage, run in data["runs"].items():
        cost = run["cost"]
        total = cost["energy_per_inference"]["total"]["value"]
        energy = cost["energy_per_inference"]
        assert total == pytest.approx(energy["dynamic"]["value"] + energy["static"]["value"])
        host = sum(row["energy_j"] for row in cost["inputs"].values())
        assert sum(r["energy_j"] for r in cost["populations"].values()) + host == pytest.approx(
            total
        )
        assert sum(c["energy_j"] for c in cost["cores"]) + host == pytest.approx(total)
        assert sum(cost["dynamic_energy_by_event"].values()) == pytest.approx(
            energy["dynamic"]["value"]
        )
        steps = run["activity"]["steps"]
        assert len(cost["step_latency_s"]["total"]) == steps
        assert sum(cost["step_latency_s"]["total"]) == pytest.approx(
            cost["latency"]["per_inference"]["value"]
        )
        for name, per_step in run["activity"]["per_step"].items():
            assert len(per_step["spikes"]) == steps
            assert sum(per_step["spikes"]) / data["input"]["batch"] == pytest.approx(
                run["activity"]["populations"][name]["spikes"]
            )
        placement = run["placement"]
        assert placement["cores_used"] == len(placement["cores"]) == len(cost["cores"])
        assert {
            p for c in placement["cores"] for p in (s["population"] for s in c["slices"])
        } >= set(data["network"]["populations"])
        assert run["precision"] in ("float", "fixed") and stage.endswith(run["precision"])
    return data


def test_profile_on_the_reference_backend_writes_a_consistent_report(tmp_path):
    _, graph, inputs = _example(tmp_path, "lif_mlp")
    out = tmp_path / "report"
    code, stdout, stderr = _run(
        "profile", str(graph), "--input", str(inputs), "-o", str(out),
        "--backend", "reference", "--precision", "float",
    )  # fmt: skip
    assert code == 0, stderr
    data = _check_report(out)
    assert [s["name"] for s in data["stages"]] == [
        "reference (NIR -> IR, float64)",
        "reference replayed in hardware steps",
    ]
    # lif_mlp's output is spikes: agreement is the share of equal entries, no decisions.
    assert all(s["exact"] and s["spike_agreement"] == 1.0 for s in data["stages"])
    assert all(s["decision_agreement"] is None for s in data["stages"])
    assert all(s["relative_error"] == 0.0 for s in data["stages"])
    assert data["deployed"] == "reference-float" and data["source"] is None
    assert data["hardware"]["name"] == "loihi2"
    assert "stage table (2 samples x 20 steps)" in stdout
    assert "dynamic energy / inference" in stdout and "cores" in stdout


def test_profile_all_stages_with_the_norse_source(tmp_path):
    """norse = reference = compiled float exactly; fixed point is counted on the emulator."""
    checkpoint, graph, inputs = _example(tmp_path, "conv_net")
    out = tmp_path / "report"
    code, _, stderr = _run(
        "profile", str(graph), "--input", str(inputs), "-o", str(out), "--source", str(checkpoint),
        "--backend", "emulator", "--hardware", "loihi1", "--raster", "1",
    )  # fmt: skip
    assert code == 0, stderr
    data = _check_report(out)
    names = [s["name"] for s in data["stages"]]
    assert names[0] == "norse (source, float64)" and len(names) == 4
    assert [s["exact"] for s in data["stages"][:3]] == [True, True, True]
    fixed = data["stages"][3]
    # README: conv_net's fixed point keeps 99.22 % of output entries over 128 samples;
    # 2 x 20 x 5 entries here, so 97 % allows three of 200 entries to differ.
    assert fixed["stage"] == "emulator-fixed" and 0.97 <= fixed["spike_agreement"] <= 1.0
    assert data["deployed"] == "emulator-fixed" and data["hardware"]["name"] == "loihi1"
    source = data["source"]
    assert source["effective_acs"] > 0 and source["dense_ops"] > source["synaptic_ops"]
    assert 0 < source["activation_sparsity"] < 1
    cpu, gpu = source["conventional"].values()
    assert cpu["mac"]["kind"] == gpu["byte"]["kind"] == "estimated"
    assert source["conventional_energy_j"] == pytest.approx(cpu["total_j"])
    # Two weight planes: the fixed plan does more synaptic ops than the float plan.
    float_ops = data["stages"][2]["synaptic_ops_per_inference"]
    assert fixed["synaptic_ops_per_inference"] > float_ops


def test_compile_prints_cores_chips_and_utilisation(tmp_path):
    _, graph, _ = _example(tmp_path, "lif_mlp")
    code, stdout, _ = _run("compile", str(graph), "-o", str(tmp_path / "net.sfnet"))
    assert code == 0
    # Two layers, and the bias neuron on the first layer's core (helpers share cores).
    assert "placement on loihi2: 2 of 128 cores, 1 of 1 chip(s), 1 tile(s)" in stdout
    assert "+ __bias__" in stdout
    assert "syn mem" in stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "reference"], "the reference backend gives the float stage only"),
        (["--hardware", "nosuch"], "no hardware model 'nosuch'"),
        (["--raster", "nosuch"], "cannot draw a raster of 'nosuch': not a spiking population"),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(tmp_path, extra, message):
    _, graph, inputs = _example(tmp_path, "lif_mlp", batch=1, steps=5)
    out = tmp_path / "report"
    code, _, stderr = _run("profile", str(graph), "--input", str(inputs), "-o", str(out), *extra)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("spikeforge profile: error: ")
    assert message in stderr
    assert not out.exists()


def test_a_bad_hardware_file_is_named(tmp_path):
    _, graph, inputs = _example(tmp_path, "lif_mlp", batch=1, steps=5)
    bad = tmp_path / "mine.toml"
    bad.write_text('schema = 1\nname = "mine"\ndescription = "x"\n')
    out = tmp_path / "r"
    code, _, stderr = _run(
        "profile", str(graph), "--input", str(inputs), "-o", str(out), "--hardware", str(bad)
    )
    assert code == 2
    assert f"hardware file {bad}: topology: missing section" in stderr
