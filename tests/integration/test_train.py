"""Tiny end to end: build a synthetic data set, train a few steps, save, reload, reconstruct."""

import json
import os
import subprocess
import sys

import pytest

from implicit_studio.errors import CheckpointError, InputError
from implicit_studio.engine.events import LevelMesh
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.session import ReconstructionSession, Settings
from implicit_studio.train.data.dataset import load_shape, make_synthetic_dataset
from implicit_studio.io.inputs import InputData
from implicit_studio.train.batchnorm import batchnorm_layers
from implicit_studio.engine.checkpoints import load_checkpoint
from implicit_studio.train.trainer import TrainOptions, calibration_batches, train


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "syn", n_shapes=6, n_points=4000)


@pytest.mark.parametrize("name", ["convonet-3plane", "onet-image"])
def test_train_save_reload_reconstruct(tiny_data, tmp_path, name):
    out = tmp_path / "run"
    opts = TrainOptions(model=name, data=str(tiny_data), out=str(out), total_steps=4, val_every=2,
                        batch_size=2, n_queries=256, val_shapes=1, warmup=2)
    summary = train(opts)
    assert summary["steps"] == 4
    assert (out / "best.safetensors").is_file() and (out / "curves.png").is_file()
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step") and len(rows) == 3
    # resume continues the step count
    summary = train(TrainOptions(**{**opts.__dict__, "resume": True, "total_steps": 6}))
    assert summary["steps"] == 6
    model, card = load_checkpoint(out / "last.safetensors", expected_model=name)
    assert card["steps"] == 6
    if name == "onet-image":   # the checkpoint holds BatchNorm statistics recomputed on the calibration batches
        n_calibration = len(calibration_batches(opts, get_spec(name), model.cfg))
        layers = batchnorm_layers(model)
        assert layers and all(int(m.num_batches_tracked) == n_calibration for m in layers)
    shape = load_shape(tiny_data / "shapes" / f"{(tiny_data / 'splits' / 'test.txt').read_text().split()[0]}.npz")
    data = (InputData("t", "image", image=shape["images"][0]) if name == "onet-image"
            else InputData("t", "points", points=shape["surface_points"][:3000]))
    events = list(ReconstructionSession(data, Settings(model=name, checkpoint=str(out / "best.safetensors"),
                                                       resolution0=8, levels=1, threshold=0.5)).run())
    assert any(isinstance(e, LevelMesh) and e.final for e in events)


def test_two_process_data_parallel_keeps_replicas_identical(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --standalone: the rendezvous binds a free port of its own (a fixed port fails when another run holds it)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "implicit_studio.cli", "train", "--model", "onet-pointcloud", "--data", str(tiny_data),
           "--out", str(out), "--total-steps", "3", "--val-every", "3", "--batch-size", "2", "--n-queries", "128",
           "--val-shapes", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["world_size"] == 2 and summary["steps"] == 3
    assert summary["replicas_identical"] is True


def test_init_starts_a_new_run_from_trained_weights(tiny_data, tmp_path):
    import torch

    first = tmp_path / "first"
    base = dict(model="convonet-3plane", data=str(tiny_data), batch_size=2, n_queries=256, val_shapes=1, warmup=2)
    train(TrainOptions(out=str(first), total_steps=3, val_every=3, **base))
    start, start_card = load_checkpoint(first / "last.safetensors", expected_model="convonet-3plane")
    second = tmp_path / "second"
    train(TrainOptions(out=str(second), total_steps=2, val_every=2, init=str(first / "last.safetensors"), **base))
    rows = (second / "log.csv").read_text().splitlines()
    assert rows[1].startswith("0,") and len(rows) == 3     # step 0 validates the starting weights
    model, card = load_checkpoint(second / "last.safetensors", expected_model="convonet-3plane")
    assert card["steps"] == start_card["steps"] + 2
    assert card["init_from"]["steps"] == start_card["steps"]
    state = json.loads((second / "state.json").read_text())
    assert state["best_iou"] >= float(rows[1].split(",")[3]) - 1e-4
    moved = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), start.state_dict().values()))
    assert moved
    with pytest.raises(CheckpointError, match="checkpoint of 'convonet-3plane', not of 'onet-pointcloud'"):
        train(TrainOptions(**{**base, "model": "onet-pointcloud"}, out=str(tmp_path / "x"), total_steps=1,
                           init=str(first / "last.safetensors")))


def test_init_can_widen_the_unet_of_trained_weights(tiny_data, tmp_path):
    first = tmp_path / "first"
    base = dict(model="convonet-3plane", data=str(tiny_data), batch_size=2, n_queries=256, val_shapes=1, warmup=2)
    train(TrainOptions(out=str(first), total_steps=2, val_every=2, **base))
    start, _ = load_checkpoint(first / "last.safetensors", expected_model="convonet-3plane")
    filters = start.cfg.unet_filters
    wide = tmp_path / "wide"
    train(TrainOptions(out=str(wide), total_steps=2, val_every=2, init=str(first / "last.safetensors"),
                       widen_unet=filters + 8, **base))
    model, card = load_checkpoint(wide / "last.safetensors", expected_model="convonet-3plane")
    assert model.cfg.unet_filters == filters + 8
    assert model.encoder.unet.down[0][0].out_channels == filters + 8
    assert card["init_from"]["widened_unet_filters"] == [filters, filters + 8]
    with pytest.raises(InputError, match="give --init too"):
        train(TrainOptions(out=str(tmp_path / "x"), total_steps=1, widen_unet=64, **base))
    with pytest.raises(InputError, match="already has"):
        train(TrainOptions(out=str(tmp_path / "y"), total_steps=1, init=str(wide / "last.safetensors"),
                           widen_unet=filters, **base))


def test_init_can_change_the_feature_side_of_trained_weights(tiny_data, tmp_path):
    first = tmp_path / "first"
    base = dict(model="convonet-grid", data=str(tiny_data), batch_size=2, n_queries=256, val_shapes=1, warmup=2)
    train(TrainOptions(out=str(first), total_steps=1, val_every=1, **base))
    start, _ = load_checkpoint(first / "last.safetensors", expected_model="convonet-grid")
    finer = start.cfg.reso + 4
    run = tmp_path / "finer"
    train(TrainOptions(out=str(run), total_steps=1, val_every=1, init=str(first / "last.safetensors"),
                       reso=finer, **base))
    model, card = load_checkpoint(run / "last.safetensors", expected_model="convonet-grid")
    assert model.cfg.reso == finer and model.encoder.reso == finer
    assert card["init_from"]["reso"] == [start.cfg.reso, finer]
    # the resumed run keeps the side it was trained at
    summary = train(TrainOptions(out=str(run), total_steps=2, val_every=1, resume=True, **base))
    assert summary["steps"] == 2
    assert load_checkpoint(run / "last.safetensors", expected_model="convonet-grid")[0].cfg.reso == finer
    # the side the weights already have is no change, and the card says none
    same = tmp_path / "same"
    train(TrainOptions(out=str(same), total_steps=1, val_every=1, init=str(run / "last.safetensors"),
                       reso=finer, **base))
    assert "reso" not in load_checkpoint(same / "last.safetensors", expected_model="convonet-grid")[1]["init_from"]
    with pytest.raises(InputError, match="give --init too"):
        train(TrainOptions(out=str(tmp_path / "x"), total_steps=1, reso=40, **base))
    with pytest.raises(InputError, match="--reso 42: give a multiple of 4"):
        train(TrainOptions(out=str(tmp_path / "y"), total_steps=1, init=str(first / "last.safetensors"),
                           reso=42, **base))


def test_scan_like_bf16_training_runs_and_resumes_with_its_settings(tiny_data, tmp_path):
    out = tmp_path / "scan"
    opts = TrainOptions(model="convonet-grid", data=str(tiny_data), out=str(out), total_steps=3, val_every=3,
                        batch_size=2, n_queries=256, val_shapes=1, warmup=1, partial=0.5, point_counts="1000-20000",
                        uneven=0.5, noise_range="0-0.011", outliers=0.01, rotate="any", rotated=0.5, aniso_scale=0.2,
                        bf16=True, loader_workers=1)
    assert train(opts)["steps"] == 3
    state = json.loads((out / "state.json").read_text())
    assert state["options"]["rotate"] == "any" and state["options"]["bf16"] is True
    assert train(TrainOptions(**{**opts.__dict__, "resume": True, "total_steps": 4}))["steps"] == 4
    with pytest.raises(InputError):
        train(TrainOptions(model="onet-image", data=str(tiny_data), out=str(tmp_path / "img"), total_steps=1,
                           rotate="any"))
