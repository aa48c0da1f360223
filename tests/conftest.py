"""Shared fixtures: small shapes made by the tests themselves."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

# One intra-op thread: with two, every torch op waits on a barrier for a second OpenMP thread,
# and when other processes load both cores that wait makes a SIREN step 10-30x slower (measured
# 1-2 s instead of 0.06 s per step at load average 8 on 2 cores).
torch.set_num_threads(1)


def random_checkpoint(path, name: str = "convonet-3plane", **card):
    """``path`` written as a checkpoint of model ``name`` at CPU size with freshly initialised weights
    (torch's current seed), ``card`` added to its card; returns ``path``."""
    from implicit_studio.engine.checkpoints import save_checkpoint
    from implicit_studio.engine.registry import get_spec

    cfg = get_spec(name).config("cpu")
    save_checkpoint(path, name, cfg.build(), cfg, **card)
    return path


def sphere_field(radius: float = 0.35):
    """Field inside where positive: radius - |p|."""
    return lambda p: radius - np.linalg.norm(p, axis=1)


def torus_field(big: float = 0.3, small: float = 0.1):
    def field(p):
        q = np.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - big
        return small - np.sqrt(q ** 2 + p[:, 2] ** 2)
    return field


@pytest.fixture
def torus_cloud():
    """(points (4000, 3), normals (4000, 3)) on a torus R=0.3, r=0.1 in the unit frame."""
    import trimesh

    mesh = trimesh.creation.torus(0.3, 0.1)
    pts, face = trimesh.sample.sample_surface(mesh, 4000, seed=0)
    return pts.astype(np.float32), mesh.face_normals[face].astype(np.float32)


class NearestPointModel(torch.nn.Module):
    """A stand-in scene model: inside within ``shell`` box units of the crop's input points, plus a
    per-crop ``bias`` (the crop's mean x), so that neighbouring tiles disagree near their borders
    as a real model's crops do."""

    def __init__(self, shell: float = 0.05, bias: float = 0.0):
        super().__init__()
        self.shell, self.bias = shell, bias

    def encode(self, inputs):
        return inputs[0]

    def decode(self, points, code):
        dist = torch.cdist(points[0], code).min(dim=1).values
        return (40.0 * (self.shell - dist) + self.bias * code[:, 0].mean())[None]


CONTROL_BOUND_S = 60.0
"""Generous bound for a run on another thread to reach a stage or end: it takes one fit step or field batch
(milliseconds), but a machine shared by other test runs can stall a thread for seconds."""


def wait_while_alive(event: threading.Event, thread: threading.Thread, bound: float = CONTROL_BOUND_S) -> bool:
    """Wait up to ``bound`` seconds for ``event``, giving up as soon as ``thread`` has ended without setting it
    (a run that died of an error fails the test at once instead of after the whole bound)."""
    for _ in range(int(bound / 0.05)):
        if event.wait(0.05):
            return True
        if not thread.is_alive():
            return event.is_set()
    return event.is_set()


def box_room(rng, size=(2.6, 1.4, 1.9), n=12_000):
    """Points (N, 3) on the six faces of an axis-aligned box from the origin to ``size`` metres."""
    size = np.asarray(size)
    pts = rng.random((n, 3)) * size
    face = rng.integers(0, 6, n)
    pts[np.arange(n), face // 2] = np.where(face % 2 == 0, 0.0, size[face // 2])
    return pts


def triangles(vertices, faces, decimals=6):
    """A mesh as the sorted list of its faces, each its three rounded vertices in sorted order:
    equal for the same surface whatever the numbering."""
    return sorted(tuple(sorted(map(tuple, tri))) for tri in np.round(vertices[faces], decimals).tolist())


def edges_shared_twice(faces):
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool(np.all(counts == 2))
