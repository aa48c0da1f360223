"""Creases at the scene model's tile borders: how sharply a room's mesh bends at the borders
against elsewhere.

    python scripts/tile_creases.py ROOM_SCAN MESH [MESH ...] [--voxel 0.02]

ROOM_SCAN is the cloud the meshes were reconstructed from (in metres; the tiles are planned on
it as ``reconstruct`` plans them), each MESH a ``reconstruct --model convonet-scene`` output.
For every pair of adjacent faces the angle between their normals is taken at their shared
edge. Marching cubes puts some edges in the lattice's planes, where the angles are larger than
between them; the edges in a tile border plane are compared with the edges in the other lattice
planes (farther than 10 cm from every border): a mesh without seams bends as much at its tile
borders as on any lattice plane (ratio near 1). Prints one line per mesh.
"""

from __future__ import annotations

import argparse

import numpy as np


def plane_distance(points: np.ndarray, origin: np.ndarray, step: float) -> np.ndarray:
    """(E, 3) metres -> (E,) metres from each point to the nearest plane ``origin + k * step`` of
    any axis."""
    rel = (points - origin) / step
    return np.abs(rel - np.round(rel)).min(axis=1) * step


TOLERANCE = 1e-4     # of a lattice step: meshes may be written in float32 (a few metres to 1e-6 m)


def main() -> None:
    import trimesh

    from implicit_studio.engine.tiling import plan_tiles
    from implicit_studio.io.files import load_input

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scan")
    parser.add_argument("meshes", nargs="+")
    parser.add_argument("--voxel", type=float, default=0.02)
    args = parser.parse_args()
    data = load_input(args.scan)
    plan = plan_tiles(data.normalization.to_user(data.points), args.voxel)
    for path in args.meshes:
        mesh = trimesh.load(path, process=False)
        midpoints = mesh.vertices[mesh.face_adjacency_edges].mean(axis=1)
        border = plane_distance(midpoints, plan.origin, plan.core)
        lattice = plane_distance(midpoints, plan.origin, plan.voxel) < TOLERANCE * plan.voxel
        angles = np.degrees(mesh.face_adjacency_angles)
        on, other = angles[border < TOLERANCE * plan.voxel], angles[lattice & (border > 0.10)]
        print(f"{path}: mean angle between adjacent faces at an edge in a tile border plane {on.mean():.2f} deg "
              f"({len(on):,} edges), in another lattice plane {other.mean():.2f} deg ({len(other):,}); "
              f"ratio {on.mean() / other.mean():.2f}")


if __name__ == "__main__":
    main()
