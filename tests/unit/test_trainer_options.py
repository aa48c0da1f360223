"""``train --resume`` keeps the run's own settings unless they are given again."""

import argparse
import json

from implicit_studio.train.trainer import TrainOptions, add_arguments, resolve_options


def parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_fresh_run_takes_defaults_and_given_values(tmp_path):
    opts = resolve_options(parse(["--model", "convonet-3plane", "--data", "d", "--out", str(tmp_path), "--lr", "0.01"]))
    defaults = TrainOptions("", "", "")
    assert opts.lr == 0.01 and opts.batch_size == defaults.batch_size and opts.warmup == defaults.warmup


def test_resume_keeps_stored_settings_unless_given(tmp_path):
    stored = {"batch_size": 4, "lr": 5e-4, "warmup": 50, "val_shapes": 16, "size": "cpu"}
    (tmp_path / "state.json").write_text(json.dumps({"step": 10, "options": stored}))
    base = ["--model", "onet-pointcloud", "--data", "d", "--out", str(tmp_path), "--resume"]
    opts = resolve_options(parse(base))
    assert (opts.batch_size, opts.lr, opts.warmup, opts.val_shapes) == (4, 5e-4, 50, 16)
    opts = resolve_options(parse(base + ["--lr", "2e-4", "--max-minutes", "5"]))
    assert opts.lr == 2e-4 and opts.batch_size == 4 and opts.max_minutes == 5.0


def test_without_resume_stored_settings_are_ignored(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"options": {"batch_size": 4}}))
    opts = resolve_options(parse(["--model", "onet-pointcloud", "--data", "d", "--out", str(tmp_path)]))
    assert opts.batch_size == TrainOptions("", "", "").batch_size


def test_mirror_is_a_switch_kept_on_resume(tmp_path):
    base = ["--model", "onet-pointcloud", "--data", "d", "--out", str(tmp_path)]
    assert resolve_options(parse(base)).mirror is False
    assert resolve_options(parse(base + ["--mirror"])).mirror is True
    (tmp_path / "state.json").write_text(json.dumps({"options": {"mirror": True}}))
    assert resolve_options(parse(base + ["--resume"])).mirror is True
    assert resolve_options(parse(base + ["--resume", "--no-mirror"])).mirror is False


def test_scan_like_options_become_input_kinds_and_are_kept_on_resume(tmp_path):
    import pytest

    from implicit_studio.errors import InputError
    from implicit_studio.train.trainer import input_kinds

    base = ["--model", "convonet-grid", "--data", "d", "--out", str(tmp_path)]
    opts = resolve_options(parse(base + ["--partial", "0.5", "--point-counts", "1000-20000", "--uneven", "0.5",
                                         "--noise-range", "0-0.011", "--outliers", "0.01", "--rotate", "any",
                                         "--aniso-scale", "0.2", "--bf16"]))
    kinds = input_kinds(opts)
    assert (kinds.partial, kinds.counts, kinds.noise, kinds.rotate, kinds.scale) == (0.5, (1000, 20000), (0.0, 0.011),
                                                                                   "any", 0.2)
    assert opts.bf16 is True
    assert input_kinds(resolve_options(parse(base))).plain
    (tmp_path / "state.json").write_text(json.dumps({"options": {"rotate": "yaw", "partial": 0.3}}))
    resumed = resolve_options(parse(base + ["--resume"]))
    assert (resumed.rotate, resumed.partial) == ("yaw", 0.3)
    for bad in (["--point-counts", "20000-1000"], ["--noise-range", "x"], ["--rotate", "sideways"],
                ["--partial", "2"]):
        with pytest.raises(InputError):
            input_kinds(resolve_options(parse(base + bad)))
