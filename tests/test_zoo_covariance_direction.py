"""covariance_direction: the direction lives only in the inputs' covariance (equal mean rates
for every direction), and the trained network reads it from there."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from spikeforge.models import covariance_direction as model
from spikeforge.models.examples import run_norse
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import load_trained
from spikeforge.runtimes import run


@functools.cache
def _shipped() -> torch.nn.Module:
    return load_trained("covariance_direction").double()


def _norse(inputs: np.ndarray) -> np.ndarray:
    return run_norse(_shipped(), torch.as_tensor(inputs, dtype=torch.float64)).numpy()


def test_grid_is_a_hexagon_of_unit_spacing() -> None:
    points = model.positions()
    assert points.shape == (model.N_POSITIONS, 2) == (127, 2)
    distances = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.min(axis=1)
    np.testing.assert_allclose(nearest, model.SPACING, rtol=1e-12)
    # A hexagon of radius R: 3R(R-1)+1 interior points with six nearest neighbours,
    # 6(R-1) edge points with four, 6 corners with three.
    neighbours = (np.abs(distances - model.SPACING) < 1e-12).sum(axis=1)
    r = model.RADIUS
    assert np.bincount(neighbours).tolist() == [0, 0, 0, 6, 6 * (r - 1), 0, 3 * r * (r - 1) + 1]
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 0.7, 2.0, np.pi, 4.5])
def test_latent_covariance_is_the_papers_and_marginals_do_not_depend_on_direction(
    angle: float,
) -> None:
    cov = model.latent_covariance(angle)
    # Unit variance for every input and direction: the thresholded spikes fire with
    # probability RATE whatever the direction (exact, not statistical).
    np.testing.assert_allclose(np.diag(cov), 1.0, rtol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > 0
    k = model.WAVENUMBER * np.array([np.cos(angle), np.sin(angle)])
    phase = model.positions() @ k
    delta = phase[:, None] - phase[None, :]
    n = model.N_POSITIONS
    off = ~np.eye(n, dtype=bool)
    rho = model.CORRELATION
    np.testing.assert_allclose(cov[:n, :n][off], rho * np.cos(delta)[off], atol=1e-12)
    np.testing.assert_allclose(cov[n:, n:][off], rho * np.cos(delta)[off], atol=1e-12)
    # intensity i with change j: sin(k . (x_j - x_i)), odd in k: tells theta from theta+pi
    np.testing.assert_allclose(cov[:n, n:], -rho * np.sin(delta), atol=1e-12)


def test_direction_is_invisible_to_rates_but_recoverable_from_covariance() -> None:
    """A linear decoder of spike counts is at chance; the power decoder (matched to the
    generator's covariance) is nearly exact; the uncorrelated control defeats both."""
    train = model.make_data("train", 400, seed=3)
    test = model.make_data("test", 50, seed=3)
    counts = train.inputs.sum(axis=1)
    goal = np.stack([np.cos(train.targets), np.sin(train.targets)], axis=1)
    design = np.c_[counts, np.ones(len(counts))]
    readout = np.linalg.solve(design.T @ design + 10 * np.eye(design.shape[1]), design.T @ goal)
    linear = np.c_[test.inputs.sum(axis=1), np.ones(len(test))] @ readout
    linear_error = model.angle_errors(np.arctan2(linear[:, 1], linear[:, 0]), test.targets)
    # Chance is 90 deg; 50 directions leave a standard error of about 7 deg.
    assert linear_error.mean() > 65

    def power_decoder(data) -> np.ndarray:
        candidates = np.linspace(0, 2 * np.pi, 360, endpoint=False)
        centred = data.inputs - model.RATE
        power = (np.einsum("nti,cmi->ntcm", centred, model.grating_modes(candidates)) ** 2).sum(
            axis=(1, 3)
        )
        return model.angle_errors(candidates[power.argmax(axis=1)], data.targets)

    assert power_decoder(test).mean() < 3  # measured 0.3 deg
    control = model.make_data("test", 50, seed=3, correlated=False)
    assert power_decoder(control).mean() > 65


@pytest.mark.parametrize("correlated", [True, False])
def test_mean_rate_is_the_same_for_every_direction(correlated: bool) -> None:
    rng = np.random.default_rng(11)
    rates = []
    for angle in (0.0, np.pi / 3, np.pi):
        spikes = model.spikes(np.full(256, angle), rng, correlated=correlated)
        rates.append(spikes.mean())
    # The grating makes all inputs of a trial fluctuate together, so the pooled rate of
    # 256 trials has a standard error of 0.002 (measured over 20 repeats), not
    # sqrt(p(1-p)/N); 0.01 is five of them.
    np.testing.assert_allclose(rates, model.RATE, atol=0.01)


def test_network_decodes_direction_only_when_inputs_are_correlated() -> None:
    test = model.make_data("test", 50)
    scores = model.metrics(_norse(test.inputs), test)
    assert scores["direction_error"] < 15  # measured 10.1 deg over 50 directions
    control = model.make_data("test", 50, correlated=False)
    assert model.metrics(_norse(control.inputs), control)["direction_error"] > 60


def test_fixed_point_matches_norse() -> None:
    """The bit-exact emulator of Lava fixed point: same metric as norse to within 1 deg."""
    test = model.make_data("test", 50)
    compiled = export_and_compile(_shipped(), model.CARD, model.make_data("train", 8).inputs)
    fixed = run(compiled, test.inputs, backend="emulator", precision="fixed").output
    expected = model.metrics(_norse(test.inputs), test)["direction_error"]
    # Measured 0.08 deg apart: a few hidden spikes move in time, none of the decisions flip.
    assert abs(model.metrics(fixed, test)["direction_error"] - expected) < 1.0
