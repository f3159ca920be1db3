"""Sharded runs on a real local Ray (2 CPUs): pooled == single process, resume, retry, cache keys.

"Single process" is the engine itself: :func:`spikeforge.profile.stages.count_run` on
the whole batch, or :func:`spikeforge.models.stages.evaluate` for a zoo model. Ray is
started once for the module and shut down at its end (no processes left behind).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.cli import main
from spikeforge.cluster.cache import job_digest, network_digest, sfnet_bytes, shard_key
from spikeforge.cluster.executor import run_compiled
from spikeforge.cluster.grid import Point, parse_grid
from spikeforge.cluster.shard import RunSettings, Shard, split
from spikeforge.cluster.spec import ClusterSpec
from spikeforge.compile import load_or_compile
from spikeforge.errors import SpikeforgeError
from spikeforge.export import to_nir, write_nir
from spikeforge.models.examples import EXAMPLES
from spikeforge.profile import estimate, load_hardware, place
from spikeforge.profile.stages import count_run

ray = pytest.importorskip("ray")

TWO = ClusterSpec(workers=2)
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> tuple[Path, object, np.ndarray]:
    """A small LIF MLP as a NIR file, compiled, and 6 samples of input spikes."""
    factory, shape = EXAMPLES["lif_mlp"]
    path = tmp_path_factory.mktemp("net") / "mlp.nir"
    write_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3), path)
    rng = np.random.default_rng(1)
    inputs = (rng.random((6, 16, *shape)) < 0.3).astype(np.float32)
    return path, load_or_compile(path), inputs


def _engine(compiled, inputs, settings):
    """The single-process engine on the whole batch: activity, outputs, cost."""
    placement = place(compiled.plan(settings.precision), settings.hardware)
    name = next(iter(compiled.network.inputs))
    activity, result = count_run(
        compiled, {name: inputs}, placement, settings.backend, settings.precision
    )
    return activity, result.outputs, estimate(activity, placement, settings.hardware)


def _assert_same_fields(pooled, single) -> None:
    """Every per-step array of two Counts (or Routes) equal, number for number."""
    assert type(pooled) is type(single)
    for field in dataclasses.fields(single):
        np.testing.assert_array_equal(getattr(pooled, field.name), getattr(single, field.name))


def _assert_same(pooled, engine, settings, compiled) -> None:
    activity, outputs, cost = engine
    assert pooled.samples == activity.batch
    for name, out in outputs.items():
        np.testing.assert_array_equal(pooled.outputs[name], out)
    for name, table in activity.populations.items():
        _assert_same_fields(pooled.activity.populations[name], table)
    for name, table in activity.inputs.items():
        _assert_same_fields(pooled.activity.inputs[name], table)
    _assert_same_fields(pooled.activity.cores, activity.cores)
    _assert_same_fields(pooled.activity.longest_route, activity.longest_route)
    placement = place(compiled.plan(settings.precision), settings.hardware)
    pooled_cost = estimate(pooled.activity, placement, settings.hardware)
    assert pooled_cost.energy == cost.energy
    assert pooled_cost.latency == cost.latency


@pytest.mark.parametrize(("backend", "precision"), [("emulator", "fixed"), ("emulator", "float")])
def test_pooled_equals_single_process_on_the_emulator(local_ray, net, backend, precision):
    _, compiled, inputs = net
    settings = RunSettings(backend, precision, load_hardware("loihi2"))
    report = run_compiled([(compiled, settings)], inputs, TWO, shard_size=2)
    assert len(report.computed) == 3 and not report.cached
    _assert_same(report.pooled[0], _engine(compiled, inputs, settings), settings, compiled)


def test_pooled_equals_single_process_on_lava(local_ray, net):
    _, compiled, inputs = net
    settings = RunSettings("lava", "fixed", load_hardware("loihi2"))
    x = inputs[:4, :10]
    report = run_compiled([(compiled, settings)], x, TWO, shard_size=2)
    _assert_same(report.pooled[0], _engine(compiled, x, settings), settings, compiled)


def test_evaluate_on_two_workers_equals_the_engine(local_ray):
    from spikeforge.cluster.runner import ShardedRunner
    from spikeforge.models.stages import evaluate

    stages = ["norse", "emulator-fixed"]
    single = evaluate("digits_csnn", stages=stages, n=6, show_progress=False)
    sharded = evaluate(
        "digits_csnn", stages=stages, n=6, show_progress=False,
        hardware_runner=ShardedRunner(TWO, shard_size=4),
    )  # fmt: skip
    a, b = single.row("emulator-fixed"), sharded.row("emulator-fixed")
    assert (a.metrics, a.agreement, a.spikes, a.synaptic_ops, a.energy, a.latency) == (
        b.metrics, b.agreement, b.spikes, b.synaptic_ops, b.energy, b.latency,
    )  # fmt: skip
    np.testing.assert_array_equal(a.output, b.output)
    assert single.row("norse").metrics == sharded.row("norse").metrics


def test_an_interrupted_run_resumes_with_only_the_missing_shards(net, tmp_path):
    """A graded value in the last shard stops the run there, as a crash would."""
    _, compiled, inputs = net
    settings = RunSettings("emulator", "fixed", load_hardware("loihi2"))
    broken = inputs.copy()
    broken[5, 0, 0] = 0.5
    with pytest.raises(SpikeforgeError, match="0 or 1"):
        run_compiled([(compiled, settings)], broken, None, tmp_path, shard_size=2)
    kept = sorted(p.stem for p in (tmp_path / "shards").glob("*.npz"))
    assert len(kept) == 2
    resumed = run_compiled([(compiled, settings)], inputs, None, tmp_path, shard_size=2)
    assert sorted(resumed.cached) == kept
    job = job_digest(network_digest(sfnet_bytes(compiled)), settings)
    assert resumed.computed == [shard_key(job, inputs, Shard(4, 6))]
    fresh = run_compiled([(compiled, settings)], inputs, None, None, shard_size=2)
    assert fresh.computed and not fresh.cached
    _assert_same(resumed.pooled[0], _engine(compiled, inputs, settings), settings, compiled)


def test_a_killed_worker_is_retried_and_changes_nothing(local_ray, net):
    """SIGKILL the first Ray worker seen running a shard; Ray re-runs it (max_retries)."""
    _, compiled, inputs = net
    settings = RunSettings("lava", "fixed", load_hardware("loihi2"))
    x = inputs[:4, :8]
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for pid in _ray_task_pids("_worker_task"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    report = run_compiled([(compiled, settings)], x, TWO, shard_size=1)
    killer.join()
    assert killed, "no worker was seen running a shard"
    _assert_same(report.pooled[0], _engine(compiled, x, settings), settings, compiled)


def _ray_task_pids(task: str) -> list[int]:
    """Processes whose title Ray set to ``ray::TASK`` (running it now)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "cmdline").read_bytes().startswith(f"ray::{task}".encode()):
                pids.append(int(entry.name))
    return pids


def test_cache_keys_follow_network_settings_and_inputs(net):
    path, compiled, inputs = net
    hw = load_hardware("loihi2")
    base = RunSettings("emulator", "fixed", hw)
    digest = network_digest(sfnet_bytes(compiled))
    assert digest == network_digest(sfnet_bytes(load_or_compile(path)))  # same content
    other_net = network_digest(sfnet_bytes(load_or_compile(path, weight_planes=3)))
    job = job_digest(digest, base)
    changed = {
        job_digest(other_net, base),
        job_digest(digest, RunSettings("emulator", "float", hw)),
        job_digest(digest, RunSettings("lava", "fixed", hw)),
        job_digest(digest, RunSettings("emulator", "fixed", load_hardware("loihi1"))),
        job_digest(digest, RunSettings("emulator", "fixed", hw, ("1",))),
    }
    assert job not in changed and len(changed) == 5
    shard = Shard(0, 2)
    flipped = inputs.copy()
    flipped[1, 3, 0] = 1 - flipped[1, 3, 0]
    assert shard_key(job, inputs, shard) == shard_key(job, inputs.copy(), shard)
    assert shard_key(job, inputs, shard) != shard_key(job, flipped, shard)
    assert shard_key(job, inputs, shard) != shard_key(job, inputs, Shard(0, 3))
    factory, shape = EXAMPLES["lif_mlp"]
    reseeded = path.parent / "reseeded.nir"
    write_nir(to_nir(factory(seed=7), torch.zeros(shape), dt=1e-3), reseeded)
    assert network_digest(sfnet_bytes(load_or_compile(reseeded))) != digest


def test_a_corrupt_cache_file_is_recomputed_not_trusted(net, tmp_path):
    _, compiled, inputs = net
    settings = RunSettings("emulator", "fixed", load_hardware("loihi2"))
    first = run_compiled([(compiled, settings)], inputs, None, tmp_path, shard_size=3)
    files = sorted((tmp_path / "shards").glob("*.npz"))
    files[0].write_bytes(b"not an npz")
    obj = np.array([{"evil": 1}], dtype=object)
    with open(files[1], "wb") as fh:
        np.savez(fh, __header__=obj)  # would need pickle to load
    again = run_compiled([(compiled, settings)], inputs, None, tmp_path, shard_size=3)
    assert sorted(again.computed) == sorted(first.computed) and not again.cached
    _assert_same(again.pooled[0], _engine(compiled, inputs, settings), settings, compiled)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_sweep_writes_table_json_and_pareto_and_reruns_from_cache(local_ray, net, tmp_path):
    path, _, inputs = net
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, inputs)
    np.save(y, np.arange(len(inputs)) % 5)
    out = tmp_path / "sweep"
    argv = [
        "sweep", str(path), "--input", str(x), "--labels", str(y), "-o", str(out),
        "--grid", "weight_planes=2,3", "precision=fixed", "hardware=loihi2,loihi1",
        "--workers", "2", "--shard-size", "3",
    ]  # fmt: skip
    code, _, err = _run(*argv)
    assert code == 0, err
    data = json.loads((out / "sweep.json").read_text())
    assert data["complete"] and data["samples"] == 6 and len(data["points"]) == 4
    assert data["varied"] == ["weight_planes", "hardware"]
    # 4 points + 2 references (one per compiled network), 2 shards each
    assert data["shards"] == {"computed": 12, "cached": 0}
    assert any(p["pareto"] for p in data["points"])
    assert (out / "pareto.png").read_bytes().startswith(b"\x89PNG")
    assert "| weight_planes | hardware | accuracy (%) |" in (out / "sweep.md").read_text()
    code, _, err = _run(*argv)
    assert code == 0, err
    again = json.loads((out / "sweep.json").read_text())
    assert again["shards"] == {"computed": 0, "cached": 12}
    assert again["points"] == [
        {**p, "worker_s_per_sample": q["worker_s_per_sample"]}
        for p, q in zip(data["points"], again["points"], strict=True)
    ]


def test_a_failed_sweep_leaves_no_table_that_looks_complete(net, tmp_path):
    path, _, inputs = net
    x = tmp_path / "x.npy"
    np.save(x, inputs)
    out = tmp_path / "sweep"
    assert _run("sweep", str(path), "--input", str(x), "-o", str(out))[0] == 0
    assert (out / "sweep.md").is_file()
    code, _, err = _run(
        "sweep", str(path), "--input", str(x), "-o", str(out),
        "--grid", f"calibrate={tmp_path / 'missing.npy'}",
    )  # fmt: skip
    assert code == 2 and "missing.npy: no such file" in err
    assert not any((out / name).exists() for name in ("sweep.md", "sweep.json", "pareto.png"))


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (["depth=2"], "unknown key 'depth'"),
        (["backend=loihi2"], "not one of emulator, lava"),
        (["weight_planes=2,2"], "repeated"),
        (["precision"], "expected KEY=VALUE"),
        (["precision=fixed", "precision=float"], "given twice"),
    ],
)
def test_bad_grids_are_one_clear_error(grid, message):
    with pytest.raises(SpikeforgeError, match=message):
        parse_grid(grid, Point())


def test_grid_is_the_cross_product_over_the_defaults():
    points, varied = parse_grid(["weight_planes=2,3", "backend=emulator,lava"], Point())
    assert varied == ["weight_planes", "backend"]
    assert [(p.weight_planes, p.backend, p.precision) for p in points] == [
        (2, "emulator", "fixed"),
        (2, "lava", "fixed"),
        (3, "emulator", "fixed"),
        (3, "lava", "fixed"),
    ]


def test_decay_bits_is_a_compile_setting_of_the_grid():
    points, varied = parse_grid(["decay_bits=12,24"], Point())
    assert varied == ["decay_bits"] and [p.decay_bits for p in points] == [12, 24]
    assert points[0].compile_settings() != points[1].compile_settings()
    with pytest.raises(SpikeforgeError, match="decay_bits=25: not one of"):
        parse_grid(["decay_bits=25"], Point())


def test_split_covers_every_sample_once():
    shards = split(10, 4)
    assert [(s.start, s.stop) for s in shards] == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(SpikeforgeError):
        split(0, 4)


def test_bad_cluster_options_are_one_line(net, tmp_path):
    path, _, inputs = net
    x = tmp_path / "x.npy"
    np.save(x, inputs)
    code, _, err = _run(
        "sweep", str(path), "--input", str(x), "-o", str(tmp_path / "o"),
        "--workers", "2", "--cluster", "auto",
    )  # fmt: skip
    assert code == 2 and "pass one of them" in err and len(err.strip().splitlines()) == 1


def test_shard_size_without_a_cluster_is_refused(net, tmp_path):
    """evaluate/profile shard only on Ray; a --shard-size there alone would do nothing."""
    path, _, inputs = net
    x = tmp_path / "x.npy"
    np.save(x, inputs)
    code, _, err = _run(
        "profile", str(path), "--input", str(x), "-o", str(tmp_path / "p"), "--shard-size", "4"
    )
    assert code == 2 and "--shard-size applies to a sharded run" in err
    assert not (tmp_path / "p").exists()


def test_without_workers_ray_is_never_imported():
    """The command line, and an evaluate and a profile without --workers, leave Ray alone."""
    script = (
        "import sys, tempfile, numpy as np\n"
        "from spikeforge.cli import main\n"
        "assert 'ray' not in sys.modules\n"
        "assert main(['evaluate', 'digits_csnn', '-n', '2', '--backend', 'emulator',"
        " '--precision', 'fixed', '--workers', '1']) == 0\n"
        "assert 'ray' not in sys.modules, 'evaluate imported ray'\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_profile_on_two_workers_equals_one_process(local_ray, net, tmp_path):
    path, _, inputs = net
    x = tmp_path / "x.npy"
    np.save(x, inputs)
    reports = {}
    for label, extra in (("one", []), ("two", ["--workers", "2", "--shard-size", "2"])):
        out = tmp_path / label
        code, _, err = _run("profile", str(path), "--input", str(x), "-o", str(out), *extra)
        assert code == 0, err
        reports[label] = json.loads((out / "profile.json").read_text())
    one, two = reports["one"], reports["two"]
    for stage in ("emulator-float", "emulator-fixed"):
        a, b = one["runs"][stage], two["runs"][stage]
        assert (a["activity"], a["cost"], a["placement"]) == (
            b["activity"],
            b["cost"],
            b["placement"],
        )
        (row_a,) = [r for r in one["stages"] if r["stage"] == stage]
        (row_b,) = [r for r in two["stages"] if r["stage"] == stage]
        assert {**row_a, "wall_s_per_sample": 0} == {**row_b, "wall_s_per_sample": 0}
