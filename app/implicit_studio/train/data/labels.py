"""Occupancy labels in the "seen from outside" convention.

Furniture meshes are rarely watertight, often have open sheets and sometimes
inverted faces, so ray parity and winding numbers give labels that disagree from
shape to shape. This module labels points against the solid that an observer
outside the shape sees, with one rule for every mesh and no use of face
orientation:

1. Voxelise the surface conservatively on a fine grid (voxel ``h`` = 1/256 of the
   longest side by default): points covering every face to within one voxel, then
   one voxel of dilation, which closes the shell and seals cracks up to about two
   voxels.
2. Flood-fill empty space from the grid border (6-connected) and grow it back by
   the dilated voxel layer: that is *outside*; everything else, enclosed
   cavities included, is *inside*.
3. A point in a voxel that the surface cannot touch takes the grid's label.
   Any other point is labelled from its exact closest point ``c`` on the
   mesh (face normal ``n``, either orientation): the grid is probed at
   ``c + 2h n`` and ``c - 2h n``. If exactly one probe is outside, the point is
   inside iff it lies on the other side of the face; if both are inside (an
   internal face), it is inside. If both are outside, the face belongs to a part
   thinner than ``2h``: short rays along the normal tell a thin closed part (a
   surface within ``2h`` across it; labelled exactly) from an open sheet, which is
   given a thickness of ``2h`` (inside iff within ``h`` of it).

All coordinates are in the unit frame (see ``normalize.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_RESOLUTION = 256
GRID_PAD = 4  # empty voxels around the shape, more than the dilations reach
PROBE_VOXELS = 2.0  # probe distance from the surface, in voxels
SHEET_VOXELS = 1.0  # half-thickness given to open sheets, in voxels
RAY_OFFSET = 1e-5  # rays start this far off the surface, so they do not hit their own face


@dataclass
class OccupancyLabeler:
    """The "seen from outside" solid of one mesh, ready to label points.

    vertices : (V, 3) float64, faces : (F, 3) int64 — the mesh, unit frame
    face_normals : (F, 3) float64 unit normals (orientation irrelevant)
    origin : (3,) float64, corner of voxel (0, 0, 0)
    voxel : float, voxel edge length h
    outside : (X, Y, Z) bool, voxels reachable from the border
    band : (X, Y, Z) bool, voxels that may touch the surface (labelled point by point)
    floor : height (y) of the floor the shape stands on, or None; points below are outside
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_normals: np.ndarray
    origin: np.ndarray
    voxel: float
    outside: np.ndarray
    band: np.ndarray
    floor: float | None = None
    _tree: object = field(default=None, init=False, repr=False)

    def occupancy(self, points: np.ndarray) -> np.ndarray:
        """Label ``points`` (N, 3) -> (N,) bool, True = inside."""
        pts = np.asarray(points, dtype=np.float64)
        idx, valid = self._voxel_index(pts)
        inside = np.zeros(len(pts), dtype=bool)
        near = np.zeros(len(pts), dtype=bool)
        v = idx[valid]
        inside[valid] = ~self.outside[v[:, 0], v[:, 1], v[:, 2]]
        near[valid] = self.band[v[:, 0], v[:, 1], v[:, 2]]
        if near.any():
            inside[near] = self._near_occupancy(pts[near])
        if self.floor is not None:
            inside &= pts[:, 1] >= self.floor
        return inside

    def _aabb(self):
        """The mesh's libigl AABB tree, built on first use."""
        if self._tree is None:
            import igl  # imported late: only the data builder needs it

            self._tree = igl.AABB()
            self._tree.init(self.vertices, self.faces)
        return self._tree

    def _closest(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Squared distances (N,), face indices (N,) and closest points (N, 3) on the mesh."""
        return self._aabb().squared_distance(self.vertices, self.faces, np.ascontiguousarray(pts))

    def orient_outward(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """Unit normals (N, 3) at surface points (N, 3), flipped to face the outside.

        A normal is flipped when the grid says its back is outside and its front is
        not; normals of open sheets and internal faces are returned as given.
        """
        probe = PROBE_VOXELS * self.voxel
        out_front = self._is_outside(points + probe * normals)
        out_back = self._is_outside(points - probe * normals)
        return np.where((out_back & ~out_front)[:, None], -normals, normals)

    def _voxel_index(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) points -> (N, 3) int64 voxel indices and (N,) bool "inside the grid"."""
        idx = np.floor((pts - self.origin) / self.voxel).astype(np.int64)
        valid = np.all((idx >= 0) & (idx < np.array(self.outside.shape)), axis=1)
        return idx, valid

    def _is_outside(self, pts: np.ndarray) -> np.ndarray:
        """(N, 3) points -> (N,) bool, grid label "outside" (off-grid counts as outside)."""
        idx, valid = self._voxel_index(pts)
        out = np.ones(len(pts), dtype=bool)
        v = idx[valid]
        out[valid] = self.outside[v[:, 0], v[:, 1], v[:, 2]]
        return out

    def _near_occupancy(self, pts: np.ndarray) -> np.ndarray:
        """Sub-voxel labels for (N, 3) points near the surface -> (N,) bool."""
        sq_dist, face, closest = self._closest(pts)
        dist = np.sqrt(np.maximum(sq_dist, 0.0))
        normal = self.face_normals[np.asarray(face, dtype=np.int64)]
        probe = PROBE_VOXELS * self.voxel
        out_plus = self._is_outside(closest + probe * normal)
        out_minus = self._is_outside(closest - probe * normal)
        side = np.einsum("ij,ij->i", pts - closest, normal)
        # exactly one probe outside: inside iff the point is on the other side
        inside = np.where(out_plus, side <= 0.0, side >= 0.0)
        inside[~out_plus & ~out_minus] = True  # internal face
        thin = out_plus & out_minus
        if thin.any():
            inside[thin] = self._thin_occupancy(pts[thin], closest[thin], normal[thin], side[thin], dist[thin])
        return inside

    def _thin_occupancy(self, pts: np.ndarray, closest: np.ndarray, normal: np.ndarray, side: np.ndarray,
                        dist: np.ndarray) -> np.ndarray:
        """Labels (N,) bool of points near a part thinner than the probes (both probes outside).

        A point with another surface within ``2h`` beyond it lies inside a thin closed part
        (or a sealed gap): inside. A point whose face has another surface within ``2h``
        behind it lies outside a thin closed part: outside. Otherwise the face is an open
        sheet, given a half-thickness of ``h``.
        """
        toward = np.where(side >= 0.0, 1.0, -1.0)[:, None] * normal  # from the face towards the point
        reach = PROBE_VOXELS * self.voxel
        beyond = self._hits(pts + RAY_OFFSET * toward, toward, reach)
        behind = self._hits(closest - RAY_OFFSET * toward, -toward, reach)
        return beyond | (~behind & (dist <= SHEET_VOXELS * self.voxel))

    def _hits(self, origins: np.ndarray, directions: np.ndarray, reach: float) -> np.ndarray:
        """(N,) bool: rays from origins (N, 3) along unit directions (N, 3) meet the mesh within ``reach``."""
        face, _, _ = self._aabb().intersect_ray_first(self.vertices, self.faces, np.ascontiguousarray(origins),
                                                      np.ascontiguousarray(directions), reach)
        return np.asarray(face) >= 0


def build_labeler(vertices: np.ndarray, faces: np.ndarray, resolution: int = DEFAULT_RESOLUTION,
                  on_floor: bool = False) -> OccupancyLabeler:
    """Voxelise and flood-fill a unit-frame mesh (vertices (V, 3), faces (F, 3)).

    ``resolution`` voxels span the longest side of the mesh's bounding box.
    ``on_floor``: the shape stands on a floor at its lowest point (y up), which the
    outside cannot pass: a missing bottom face does not open the shape to the flood.
    Degenerate (zero-area) faces are dropped. Raises ValueError for an empty mesh.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    normals, keep = unit_face_normals(v, f)
    f, normals = f[keep], normals[keep]
    if len(f) == 0:
        raise ValueError("mesh has no faces of non-zero area")
    lo, hi = v[f].reshape(-1, 3).min(axis=0), v[f].reshape(-1, 3).max(axis=0)
    voxel = float((hi - lo).max()) / resolution
    if voxel <= 0:
        raise ValueError("mesh has zero extent")
    origin = lo - GRID_PAD * voxel
    shape = tuple(np.ceil((hi - lo) / voxel).astype(int) + 2 * GRID_PAD + 1)
    surface = surface_voxels(v, f, origin, voxel, shape)
    shell = dilate(surface)
    barrier = shell.copy()
    if on_floor:
        barrier[:, :GRID_PAD + 1] = True  # the voxel rows at and below the lowest point
    outside = dilate(border_component(~barrier)) & ~surface
    if on_floor:
        outside[:, :GRID_PAD] = True
    return OccupancyLabeler(v, f, normals, origin, voxel, outside, shell, lo[1] if on_floor else None)


def unit_face_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, 3) unit normals and (F,) bool mask of faces with non-zero area."""
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    keep = norm > 1e-14
    normals = np.zeros_like(cross)
    normals[keep] = cross[keep] / norm[keep, None]
    return normals, keep


def cover_points(vertices: np.ndarray, faces: np.ndarray, spacing: float) -> np.ndarray:
    """Points (K, 3) float32 such that every point of the surface lies within ``spacing`` of one.

    Faces are bisected across their longest edge until each piece lies within
    ``spacing`` of its centroid (the farthest point of a triangle from any point is
    one of its corners); the centroids are returned. Bisection adapts to long thin
    faces, so K stays within a small factor of area / spacing^2.
    """
    a, b, c = (np.ascontiguousarray(vertices[faces[:, k]], dtype=np.float32) for k in range(3))
    limit = spacing * spacing
    out = []
    while len(a):
        centroid = (a + b + c) / 3.0
        done = (_sq(a - centroid) <= limit) & (_sq(b - centroid) <= limit) & (_sq(c - centroid) <= limit)
        out.append(centroid[done])
        a, b, c = a[~done], b[~done], c[~done]
        ab, bc, ca = _sq(a - b), _sq(b - c), _sq(c - a)
        on_bc = ((bc > ab) & (bc >= ca))[:, None]  # rotate so that a-b is the longest edge
        on_ca = ((ca > ab) & (ca > bc))[:, None]
        a, b, c = (np.where(on_bc, b, np.where(on_ca, c, a)), np.where(on_bc, c, np.where(on_ca, a, b)),
                   np.where(on_bc, a, np.where(on_ca, b, c)))
        mid = 0.5 * (a + b)
        a, b, c = np.concatenate([a, mid]), np.concatenate([mid, b]), np.concatenate([c, c])
    return np.concatenate(out)


def _sq(v: np.ndarray) -> np.ndarray:
    """Squared lengths of the rows of ``v`` (N, 3) -> (N,)."""
    return np.einsum("ij,ij->i", v, v)


def surface_voxels(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray, voxel: float,
                   shape: tuple[int, int, int]) -> np.ndarray:
    """(X, Y, Z) bool grid marking the voxels of points that cover the surface within one voxel.

    Every voxel the surface touches is in the 26-neighbourhood of a marked voxel.
    """
    grid = np.zeros(shape, dtype=bool)
    pts = cover_points((vertices - origin) / voxel, faces, 1.0)
    idx = np.clip(pts.astype(np.int64), 0, np.array(shape) - 1)
    grid[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return grid


def dilate(mask: np.ndarray) -> np.ndarray:
    """Dilation of a 3D bool grid by its 26-neighbourhood (a 3x3x3 cube) -> same shape."""
    out = mask.copy()
    for axis in range(3):
        src = out.copy()
        lead = [slice(None)] * 3
        lag = [slice(None)] * 3
        lead[axis], lag[axis] = slice(1, None), slice(None, -1)
        out[tuple(lead)] |= src[tuple(lag)]
        out[tuple(lag)] |= src[tuple(lead)]
    return out


def border_component(empty: np.ndarray) -> np.ndarray:
    """Voxels of ``empty`` (X, Y, Z) bool 6-connected to the grid border -> (X, Y, Z) bool."""
    from scipy import ndimage  # imported late: slow to import, and the CLI starts without it

    labels, count = ndimage.label(empty)
    border = np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(), labels[:, :, [0, -1]].ravel()])
    border = np.unique(border[border > 0])
    if len(border) == 1:  # the usual case: the padded border is one component
        return labels == border[0]
    touches = np.zeros(count + 1, dtype=bool)
    touches[border] = True
    return touches[labels]
