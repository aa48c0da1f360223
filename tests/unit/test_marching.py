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


VOXEL = 1.1 / 16            # a 17^3 grid over the 1.1 box
CAP = VOXEL / 101           # a surface closed against the "outside" level lies this far beyond the last inside corner


def corner(index: float) -> float:
    """Box coordinate of grid index ``index`` of a 17^3 grid."""
    return -0.55 + index * VOXEL


def test_caps_lie_a_hundred_and_first_of_a_voxel_outside():
    """Padding and non-finite corners take the level threshold - 100 x the field's spread around the threshold,
    so a cap lies 1/101 of a voxel beyond the last inside corner (inside values all at threshold + 0.5 here)."""
    from implicit_studio.engine.meshing import extract_mesh

    v, f = extract_mesh(np.ones((17, 17, 17)), 0.5, 1.1)            # inside everywhere: the box, capped
    assert trimesh.Trimesh(v, f).is_watertight
    np.testing.assert_allclose(v.min(axis=0), [-0.55 - CAP] * 3, atol=1e-6)
    np.testing.assert_allclose(v.max(axis=0), [0.55 + CAP] * 3, atol=1e-6)


@pytest.mark.parametrize("fill", [np.nan, -np.inf])
def test_nan_and_minus_infinity_are_outside(fill):
    from implicit_studio.engine.meshing import extract_mesh

    values = np.full((17, 17, 17), fill)
    values[5:12, 6:11, 7:10] = 1.0
    v, f = extract_mesh(values, 0.5, 1.1)
    assert trimesh.Trimesh(v, f).is_watertight
    np.testing.assert_allclose(v.min(axis=0), [corner(5) - CAP, corner(6) - CAP, corner(7) - CAP], atol=1e-6)
    np.testing.assert_allclose(v.max(axis=0), [corner(11) + CAP, corner(10) + CAP, corner(9) + CAP], atol=1e-6)


def test_plus_infinity_is_inside():
    from implicit_studio.engine.meshing import extract_mesh

    values = np.full((17, 17, 17), -1.0)
    values[6:11, 6:11, 6:11] = np.inf               # inside, at threshold + the spread of the finite values
    v, f = extract_mesh(values, 0.0, 1.1)
    mesh = trimesh.Trimesh(v, f)
    assert mesh.is_watertight and mesh.volume > 0
    np.testing.assert_allclose(mesh.bounds, [[corner(5.5)] * 3, [corner(10.5)] * 3], atol=1e-6)


def test_meshes_have_the_documented_types_even_when_empty():
    """Float32 vertices and int64 faces, (n, 3) each, also for a grid with no inside corner: then no vertex either."""
    from implicit_studio.engine.meshing import extract_mesh

    x, y, z = grid(17)
    for values in (0.35 - np.sqrt(x**2 + y**2 + z**2), np.full((17, 17, 17), -1.0), np.full((9, 9, 9), np.nan)):
        v, f = extract_mesh(values, 0.0, 1.1)
        assert v.dtype == np.float32 and f.dtype == np.int64 and v.shape[1:] == (3,) and f.shape[1:] == (3,)
        assert (len(v) == 0) == (len(f) == 0) == (not (values > 0.0).any())
    v, f = marching_cubes_in_slabs(np.full((9, 9, 9), -1.0), 0.0, 50)
    assert v.shape == (0, 3) and f.shape == (0, 3) and f.dtype == np.int64


@pytest.mark.parametrize("shape", [(35, 35, 35), (35, 20, 27), (40, 2, 2)])
def test_slabs_are_the_thickest_within_the_cell_budget(monkeypatch, shape):
    """Each marching-cubes call gets as many layers as fit in ``slab_cells`` cells (one layer at least); the
    slabs cover the grid once, sharing one layer of corners with their neighbours; the mesh is the single call's."""
    calls = []
    real = mcubes.marching_cubes

    def recorded(values, threshold):
        calls.append(values.shape)
        return real(values, threshold)

    monkeypatch.setattr(mcubes, "marching_cubes", recorded)
    axes = [np.linspace(-0.55, 0.55, n) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    values = 0.35 - np.sqrt(x**2 + y**2 + z**2)
    values[[0, -1]] = -1.0
    cross = (shape[1] - 1) * (shape[2] - 1)
    ref_v, ref_f = real(values, 0.0)
    for slab_cells in (20, 1000, 3366, 5000, 12716, 38148, 39304, 10**6):
        calls.clear()
        v, f = marching_cubes_in_slabs(values, 0.0, slab_cells)
        thick = [call[0] - 1 for call in calls]
        assert all(call[1:] == shape[1:] for call in calls), calls
        assert sum(thick) == shape[0] - 1, (slab_cells, thick)
        assert all(t * cross <= max(slab_cells, cross) for t in thick), (slab_cells, thick)
        assert all((t + 1) * cross > slab_cells for t in thick[:-1]), (slab_cells, thick)
        assert len(f) == len(ref_f) and triangles(v, f) == triangles(ref_v, ref_f)


def test_vertices_on_grid_corners_at_slab_borders_are_merged():
    """Corner values exactly at the threshold put vertices on grid corners, also on the layers two slabs share.
    The slabbed mesh has the single call's triangles; PyMCubes gives each edge ending at such a corner a vertex
    of its own (27,876 vertices at 22,693 places here), and the slabs weld those on the shared layers."""
    i, j, k = np.meshgrid(*(np.arange(24),) * 3, indexing="ij")
    values = ((i + 2 * j + 3 * k) % 5 - 2).astype(np.float64)      # -2..2, a fifth of the corners exactly 0
    values = np.pad(values, 1, constant_values=-10.0)
    ref_v, ref_f = mcubes.marching_cubes(values, 0.0)
    places = np.unique(np.round(ref_v, 8), axis=0)
    for slab_cells in (25 * 25, 25 * 25 * 3):
        v, f = marching_cubes_in_slabs(values, 0.0, slab_cells)
        assert len(f) == len(ref_f) and triangles(v, f) == triangles(ref_v, ref_f)
        assert np.array_equal(np.unique(np.round(v, 8), axis=0), places)
        assert len(places) <= len(v) <= len(ref_v)
    v, _ = marching_cubes_in_slabs(values, 0.0, 25 * 25)    # every layer shared: every copy welded
    assert len(v) == len(places)


def test_vertices_on_the_outer_layers_are_left_as_a_single_call_makes_them():
    """Only the layers two slabs share are welded: the first and last layers of the grid belong to one slab,
    so their vertices are exactly the single call's, PyMCubes' own copies at threshold-valued corners included
    (more vertices than places there). Unpadded grid of 25^3 corners, slabs of 3 layers: 24 / 3 slabs, so the
    last layer lies on a slab border too."""
    i, j, k = np.meshgrid(*(np.arange(25),) * 3, indexing="ij")
    values = ((i + 2 * j + 3 * k) % 5 - 2).astype(np.float64)      # -2..2, a fifth of the corners exactly 0
    ref_v, ref_f = mcubes.marching_cubes(values, 0.0)
    v, f = marching_cubes_in_slabs(values, 0.0, 24 * 24 * 3)
    assert len(f) == len(ref_f) and triangles(v, f) == triangles(ref_v, ref_f)
    for layer in (0, 24):
        ref_layer, layer_v = ref_v[ref_v[:, 0] == layer], v[v[:, 0] == layer]
        assert len(np.unique(ref_layer, axis=0)) < len(ref_layer)        # the copies are there to be kept
        np.testing.assert_array_equal(np.unique(layer_v, axis=0), np.unique(ref_layer, axis=0))
        assert len(layer_v) == len(ref_layer)
