"""Mesh metrics as the papers define them (IoU, Chamfer-L1, normal consistency, F-score).

Qt-free; needs numpy, scipy, trimesh and libigl. Importing this package loads them
(about a second), so a command-line entry point should import it where it is used.
"""

from .inside import inside_mesh
from .mesh_metrics import evaluate_against_samples, evaluate_files, evaluate_meshes, format_metrics

__all__ = ["evaluate_against_samples", "evaluate_files", "evaluate_meshes", "format_metrics", "inside_mesh"]
