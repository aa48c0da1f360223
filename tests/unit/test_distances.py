"""Per-vertex distances for error colours: to the ground-truth surface and to the input points."""

import numpy as np
import pytest
import trimesh

from implicit_studio.errors import InputError
from implicit_studio.evaluate.distances import (GROUND_TRUTH, INPUT_POINTS, available_references,
                                                distance_reference, distance_summary)
from implicit_studio.io.inputs import InputData


@pytest.fixture
def sphere_input():
    """A mesh input: the icosphere r=0.40 as ground truth, 3,000 points sampled on it."""
    gt = trimesh.creation.icosphere(subdivisions=4, radius=0.40)
    points, _ = trimesh.sample.sample_surface(gt, 3000, seed=0)
    return InputData("sphere", "points", points=points.astype(np.float32), gt_mesh=gt)


def test_distance_to_the_ground_truth_surface(sphere_input):
    bigger = trimesh.creation.icosphere(subdivisions=4, radius=0.42)
    reference = distance_reference(sphere_input, GROUND_TRUTH)
    d = reference.distances(bigger.vertices)
    assert d.shape == (len(bigger.vertices),) and d.dtype == np.float32
    # every vertex lies 0.02 from the true sphere (the inscribed polyhedron is up to 0.0008 inside it);
    # the nearest of 200,000 samples adds at most a few thousandths
    assert np.all(d >= 0.0195) and np.all(d < 0.026)
    summary = distance_summary(d)
    assert 0.02 < summary["mean"] < 0.023 and summary["mean"] <= summary["p95"] < 0.025
    assert summary["vertices"] == len(bigger.vertices)
    # the surface against itself: only the sampling floor
    floor = distance_summary(reference.distances(sphere_input.gt_mesh.vertices))
    assert floor["p95"] < 0.004


def test_distance_to_the_input_points(sphere_input):
    reference = distance_reference(sphere_input, INPUT_POINTS)
    assert np.all(reference.distances(sphere_input.points) == 0)
    far = np.array([[0.0, 0.0, 0.0]])
    assert reference.distances(far)[0] == pytest.approx(0.40, abs=1e-3)   # points on flat faces: a hair inside
    assert len(reference.distances(np.zeros((0, 3)))) == 0


def test_references_an_input_offers(sphere_input):
    assert available_references(sphere_input) == [GROUND_TRUTH, INPUT_POINTS]
    cloud = InputData("cloud", "points", points=sphere_input.points)
    assert available_references(cloud) == [INPUT_POINTS]
    with pytest.raises(InputError, match="no distances to ground truth"):
        distance_reference(cloud, GROUND_TRUTH)
    image = InputData("img", "image", image=np.zeros((8, 8, 3), np.uint8))
    assert available_references(image) == []
    with pytest.raises(InputError, match="input points"):
        distance_reference(image, INPUT_POINTS)
    assert distance_summary(np.zeros(0, np.float32)) == {"mean": None, "p95": None, "vertices": 0}
