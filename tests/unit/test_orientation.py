"""Up axes: quarter/half turns that stand a scan up for the models and map meshes back exactly."""

import numpy as np
import pytest
import trimesh

from implicit_studio.errors import InputError
from implicit_studio.io.inputs import InputData
from implicit_studio.io.normalize import Normalization
from implicit_studio.io.orientation import UP_AXES, UP_ROTATIONS, current_up, parse_up, reorient


@pytest.mark.parametrize("up", UP_AXES)
def test_each_turn_is_a_proper_rotation_taking_its_axis_to_plus_y(up):
    r = UP_ROTATIONS[up]
    axis = np.zeros(3)
    axis["xyz".index(up[1])] = 1.0 if up[0] == "+" else -1.0
    assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
    assert np.array_equal(r @ axis, [0.0, 1.0, 0.0])


def test_parse_up_accepts_bare_and_signed_axes_and_rejects_others():
    assert [parse_up(t) for t in ("z", "+Z", " -x ", "y")] == ["+z", "+z", "-x", "+y"]
    for bad in ("w", "", "+", "zz", "xy"):
        with pytest.raises(InputError, match="unknown up axis"):
            parse_up(bad)


@pytest.fixture
def scan():
    rng = np.random.default_rng(0)
    user = rng.normal(size=(200, 3)) * [3.0, 1.0, 2.0] + [10.0, -5.0, 2.0]
    norm = Normalization.fit(user)
    normals = rng.normal(size=(200, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    box = trimesh.creation.box((0.5, 0.2, 0.3))
    data = InputData(source="scan", kind="points", points=norm.to_unit(user), normals=normals.astype(np.float32),
                     gt_mesh=box, normalization=norm)
    return user, data


@pytest.mark.parametrize("up", UP_AXES)
def test_reoriented_points_still_map_back_to_the_user_points(scan, up):
    user, data = scan
    turned = reorient(data, up)
    assert current_up(turned) == up and current_up(data) == "+y"
    assert np.allclose(turned.normalization.to_user(turned.points), user, atol=1e-4)
    assert np.allclose(turned.normalization.to_unit(user), turned.points, atol=1e-6)
    # normals and the ground truth turn with the points; the file's input is left untouched
    r = UP_ROTATIONS[up]
    assert np.allclose(turned.normals, data.normals @ r.T, atol=1e-6)
    assert np.allclose(turned.gt_mesh.vertices, data.gt_mesh.vertices @ r.T)
    assert np.allclose(data.normalization.to_user(data.points), user, atol=1e-4)


def test_z_up_scan_stands_up_and_turns_replace_each_other(scan):
    _, data = scan
    extent = np.ptp(data.points, axis=0)
    assert np.allclose(np.ptp(reorient(data, "z").points, axis=0), extent[[0, 2, 1]])   # z's extent is now y's
    again = reorient(reorient(data, "z"), "-x")
    direct = reorient(data, "-x")
    assert np.allclose(again.points, direct.points, atol=1e-6) and current_up(again) == "-x"
    back = reorient(again, "+y")
    assert np.allclose(back.points, data.points, atol=1e-6) and back.normalization.rotation is None


def test_images_are_not_turned():
    image = InputData(source="a.png", kind="image", image=np.zeros((4, 4, 3), np.uint8))
    assert reorient(image, "z") is image
