"""Qt-free meshing: streaming multiresolution iso-surface extraction (MISE) and marching cubes."""

from .marching import extract_mesh
from .mise import MiseLevel, dense_grid, mise

__all__ = ["MiseLevel", "dense_grid", "extract_mesh", "mise"]
