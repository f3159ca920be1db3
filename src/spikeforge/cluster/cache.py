"""Finished shards on disk, keyed by what produced them, so a rerun computes only what is missing.

A shard's key is a SHA-256 over the cache format, the spikeforge version, the
compiled network's content (every array and the header of its ``.sfnet``), the run
settings (backend, precision, recorded populations, the full hardware model) and the
shard's own input samples (bytes, dtype, shape) with its position. Change any of them
and the key changes; the number of workers does not enter it.

Files under the cache directory are data, never code: ``.npz`` read with
``allow_pickle=False`` and a JSON header, checked against the key and the shapes it
promises. A file that fails any check is ignored (and recomputed), never trusted.
Writes are atomic, so a crash leaves a shard either complete or absent.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import tempfile
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.cluster.shard import RunSettings, Shard, ShardResult
from spikeforge.compile.compiled import CompiledNet, save
from spikeforge.profile.counters import Activity, Counts, Route

CACHE_FORMAT = "spikeforge.shard"
CACHE_VERSION = 2
#: The installed spikeforge: a shard computed by another version is not reused.
_VERSION = importlib.metadata.version("spikeforge")


def _hasher(*parts: str) -> hashlib._Hash:
    h = hashlib.sha256()
    for part in (CACHE_FORMAT, str(CACHE_VERSION), _VERSION, *parts):
        h.update(part.encode())
        h.update(b"\0")
    return h


def update_with_array(h: hashlib._Hash, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())


def sfnet_bytes(compiled: CompiledNet) -> bytes:
    """The compiled network as ``.sfnet`` bytes: what workers load, and what is hashed."""
    with tempfile.TemporaryDirectory(prefix="spikeforge-cluster-") as tmp:
        path = Path(tmp) / "net.sfnet"
        save(compiled, path)
        return path.read_bytes()


def network_digest(data: bytes) -> str:
    """Hash of a ``.sfnet``'s content (its arrays and header), not of its zip framing.

    ``np.savez`` stamps zip entries with the time, so equal networks differ in bytes.
    """
    import io

    h = _hasher("network")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        for name in sorted(npz.files):
            h.update(name.encode())
            update_with_array(h, npz[name])
    return h.hexdigest()


def job_digest(network: str, settings: RunSettings) -> str:
    """Key of a (network, run settings) pair: the prefix every one of its shards shares."""
    described = json.dumps(
        {
            "backend": settings.backend,
            "precision": settings.precision,
            "record": list(settings.record),
            "hardware": repr(settings.hardware),
        },
        sort_keys=True,
    )
    return _hasher("job", network, described).hexdigest()


def shard_key(job: str, inputs: np.ndarray, shard: Shard) -> str:
    h = _hasher("shard", job, f"{shard.start}:{shard.stop}")
    update_with_array(h, inputs[shard.start : shard.stop])
    return h.hexdigest()


class ShardCache:
    """``DIR/shards/<key>.npz``; with no directory, a cache that holds nothing."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = None if directory is None else Path(directory) / "shards"

    def path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.npz"

    def load(self, key: str, shard: Shard) -> ShardResult | None:
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return _decode(key, shard, {k: npz[k] for k in npz.files})
        except Exception:  # a corrupt or foreign file is recomputed, whatever numpy raised
            return None

    def save(self, key: str, result: ShardResult) -> None:
        path = self.path(key)
        if path is None:
            return
        arrays = _encode(key, result)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def keys(self) -> Iterable[str]:
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.npz"))


def _encode(key: str, r: ShardResult) -> dict[str, np.ndarray]:
    a = r.activity
    header = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "key": key,
        "start": r.shard.start,
        "stop": r.shard.stop,
        "wall_s": r.wall_s,
        "batch": a.batch,
        "steps": a.steps,
        "sizes": a.sizes,
        "outputs": list(r.outputs),
        "spikes": list(r.spikes),
        "populations": list(a.populations),
        "inputs": list(a.inputs),
        "placed": a.placed,
    }
    arrays = {"__header__": np.array(json.dumps(header))}
    arrays.update({f"output_{i}": v for i, v in enumerate(r.outputs.values())})
    arrays.update({f"spikes_{i}": v for i, v in enumerate(r.spikes.values())})
    for i, counts in enumerate(a.populations.values()):
        arrays.update(_fields(f"population_{i}", counts))
    for i, counts in enumerate(a.inputs.values()):
        arrays.update(_fields(f"input_{i}", counts))
    if a.placed:
        arrays.update(_fields("cores", a.cores))
        arrays.update(_fields("longest_route", a.longest_route))
    return arrays


def _fields(prefix: str, record: Counts | Route) -> dict[str, np.ndarray]:
    """One array per field of a typed count, named ``PREFIX.FIELD``."""
    return {f"{prefix}.{f.name}": np.asarray(getattr(record, f.name)) for f in fields(record)}


def _read_fields(
    arrays: dict[str, np.ndarray], prefix: str, kind: type[Counts] | type[Route], shape: tuple
) -> Counts | Route:
    """The typed count stored by :func:`_fields`; a missing or misshapen field is corrupt."""
    values = {}
    for f in fields(kind):
        value = np.asarray(arrays[f"{prefix}.{f.name}"], dtype=np.float64)
        if value.shape[: len(shape)] != shape:
            raise ValueError(f"{prefix}.{f.name}: shape {value.shape}")
        values[f.name] = value
    return kind(**values)


def _decode(key: str, shard: Shard, arrays: dict[str, np.ndarray]) -> ShardResult | None:
    """The stored shard, or None unless it is exactly the one ``key`` names."""
    header = json.loads(str(arrays["__header__"]))
    if (
        header.get("format") != CACHE_FORMAT
        or header.get("version") != CACHE_VERSION
        or header.get("key") != key
        or (header.get("start"), header.get("stop")) != (shard.start, shard.stop)
    ):
        return None
    batch, steps = int(header["batch"]), int(header["steps"])
    if batch != shard.size:
        return None

    def table(prefix: str, names: list[str]) -> dict[str, Counts]:
        return {
            str(name): _read_fields(arrays, f"{prefix}_{i}", Counts, (steps,))
            for i, name in enumerate(names)
        }

    outputs = {str(n): arrays[f"output_{i}"] for i, n in enumerate(header["outputs"])}
    spikes = {str(n): arrays[f"spikes_{i}"] for i, n in enumerate(header["spikes"])}
    if any(v.shape[:1] != (batch,) for v in [*outputs.values(), *spikes.values()]):
        return None
    placed = bool(header["placed"])
    activity = Activity(
        batch=batch,
        steps=steps,
        sizes={str(k): int(v) for k, v in header["sizes"].items()},
        populations=table("population", header["populations"]),
        inputs=table("input", header["inputs"]),
        cores=_read_fields(arrays, "cores", Counts, (steps,)) if placed else None,
        longest_route=_read_fields(arrays, "longest_route", Route, (steps,)) if placed else None,
    )
    return ShardResult(shard, outputs, spikes, activity, float(header["wall_s"]))
