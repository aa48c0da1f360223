"""Floater removal keeps the supported components whole and drops the rest."""

import numpy as np
import trimesh

from implicit_studio.engine.meshing.components import keep_components_near


def two_spheres():
    a = trimesh.creation.icosphere(2, radius=0.3)
    b = trimesh.creation.icosphere(1, radius=0.05)
    b.apply_translation([0.45, 0.0, 0.0])
    both = trimesh.util.concatenate([a, b])
    return a, b, both


def test_blob_without_points_is_removed_and_the_rest_stays_watertight():
    a, b, both = two_spheres()
    points = a.vertices + 0.001
    v, f, removed = keep_components_near(both.vertices, both.faces, points, 0.02)
    assert removed == 1
    kept = trimesh.Trimesh(v, f, process=False)
    assert len(f) == len(a.faces) and kept.is_watertight
    assert np.allclose(np.linalg.norm(v, axis=1), 0.3, atol=1e-6)


def test_supported_components_are_all_kept():
    a, b, both = two_spheres()
    points = np.concatenate([a.vertices, b.vertices[:1]])
    v, f, removed = keep_components_near(both.vertices, both.faces, points, 0.02)
    assert removed == 0 and len(f) == len(both.faces)


def test_empty_inputs_pass_through():
    v = np.zeros((0, 3))
    f = np.zeros((0, 3), np.int64)
    assert keep_components_near(v, f, np.zeros((5, 3)), 0.1)[2] == 0
    a, _, _ = two_spheres()
    out = keep_components_near(a.vertices, a.faces, np.zeros((0, 3)), 0.1)
    assert len(out[1]) == len(a.faces)


def test_nothing_is_removed_when_no_component_is_near_the_points():
    """An early fit whose surface misses every point still shows; floaters need a surface to float off."""
    _, _, both = two_spheres()
    far = np.full((10, 3), 5.0)
    v, f, removed = keep_components_near(both.vertices, both.faces, far, 0.02)
    assert removed == 0 and len(f) == len(both.faces)
