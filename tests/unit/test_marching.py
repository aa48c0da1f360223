"""Marching cubes in slabs (so other threads get the GIL) gives the mesh of a single call."""

import mcubes
import numpy as np
import pytest
import trimesh

from implicit_studio.engine.meshing.marching import marching_cubes_in_slabs


def grid(n: int = 65) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.linspace(-0.55, 0.55, n)
    return np.meshgrid(g, g, g, indexing="ij")


def triangles(verts: np.ndarray, faces: np.ndarray) -> set:
    """Each face as its sorted corner coordinates (rounded): comparable across vertex orders."""
    corners = np.round(verts[faces], 8)
    return {tuple(sorted(map(tuple, tri))) for tri in corners}


@pytest.mark.parametrize("shape", ["sphere", "torus", "blobs"])
@pytest.mark.parametrize("slab_cells", [4096, 20000])
def test_slabs_give_the_single_call_mesh(shape, slab_cells):
    x, y, z = grid()
    if shape == "sphere":
        values = 0.35 - np.sqrt(x**2 + y**2 + z**2)
    elif shape == "torus":
        values = 0.1 - np.sqrt((np.sqrt(x**2 + y**2) - 0.3) ** 2 + z**2)
    else:
        values = np.sin(9 * x) * np.cos(7 * y) + np.sin(8 * z) - 0.2
    values = np.pad(values, 1, constant_values=-10.0)
    ref_v, ref_f = mcubes.marching_cubes(values, 0.0)
    v, f = marching_cubes_in_slabs(values, 0.0, slab_cells)
    assert len(v) == len(ref_v) and len(f) == len(ref_f)
    assert triangles(v, f) == triangles(ref_v, ref_f)
    assert trimesh.Trimesh(v, f, process=False).is_watertight == trimesh.Trimesh(ref_v, ref_f, process=False).is_watertight
    if shape != "blobs":
        assert trimesh.Trimesh(v, f, process=False).is_watertight


def test_small_grids_and_empty_slabs():
    x, y, z = grid(17)
    small = 0.2 - np.sqrt((x - 0.4) ** 2 + y**2 + z**2)      # surface only in the last slabs
    v, f = marching_cubes_in_slabs(np.pad(small, 1, constant_values=-1.0), 0.0, 300)
    ref_v, ref_f = mcubes.marching_cubes(np.pad(small, 1, constant_values=-1.0), 0.0)
    assert triangles(v, f) == triangles(ref_v, ref_f)
    v, f = marching_cubes_in_slabs(np.full((9, 9, 9), -1.0), 0.0, 50)
    assert len(v) == 0 and len(f) == 0


def test_non_finite_values_are_outside_except_plus_infinity():
    """NaN and -inf count as outside, +inf as inside; the mesh stays closed and in the box."""
    from implicit_studio.engine.meshing import extract_mesh

    x, y, z = grid(33)
    values = 0.35 - np.sqrt(x**2 + y**2 + z**2)
    values[x > 0.2] = np.nan                      # the sphere cut at x = 0.2, closed there
    values[x < -0.3] = -np.inf
    v, f = extract_mesh(values, 0.0, 1.1)
    mesh = trimesh.Trimesh(v, f)
    assert mesh.is_watertight and mesh.volume > 0
    assert v[:, 0].max() == pytest.approx(0.2, abs=1.1 / 32) and v[:, 0].min() == pytest.approx(-0.3, abs=1.1 / 32)
    block = np.full((17, 17, 17), -1.0)
    block[6:11, 6:11, 6:11] = np.inf
    v, f = extract_mesh(block, 0.0, 1.1)
    mesh = trimesh.Trimesh(v, f)
    assert mesh.is_watertight and mesh.volume > 0
    np.testing.assert_allclose(mesh.bounds, [[-0.55 + 5.5 * 1.1 / 16] * 3, [-0.55 + 10.5 * 1.1 / 16] * 3], atol=0.02)
    v, f = extract_mesh(np.full((9, 9, 9), np.nan), 0.0, 1.1)
    assert len(v) == 0 and len(f) == 0


def test_surface_at_the_box_faces_is_closed_just_outside():
    """A field inside everywhere meshes as the box itself, its caps within 1 % of a voxel outside it."""
    from implicit_studio.engine.meshing import extract_mesh

    v, f = extract_mesh(np.ones((9, 9, 9)), 0.0, 1.1)
    mesh = trimesh.Trimesh(v, f)
    assert mesh.is_watertight
    voxel = 1.1 / 8
    assert np.all(np.abs(v) <= 0.55 + 0.01 * voxel) and np.all(np.abs(v).max(axis=0) >= 0.55)
    assert mesh.volume == pytest.approx(1.1**3, rel=0.01)
