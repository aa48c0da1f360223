"""Text of the quality table: missing metrics (a failed shape) print as '-', never as a number."""

from implicit_studio.evaluate.quality import format_table, metric_cells, summarize


def test_cells_round_like_the_readme_and_mark_missing_values():
    rows = [{"iou": 0.5, "chamfer_l1": 0.01234, "chamfer_l1_x10": 0.1234, "normal_consistency": None,
             "fscore_1pct": 0.25, "seconds": 1.0, "failure": False},
            {"iou": 0.7, "chamfer_l1": None, "chamfer_l1_x10": None, "normal_consistency": None,
             "fscore_1pct": 0.75, "seconds": 2.0, "failure": True}]
    assert metric_cells(summarize(rows)) == ["2", "0.600", "0.0123", "0.123", "-", "0.500", "1.50", "1"]


def test_plain_table_has_a_header_and_a_row_per_model():
    summary = summarize([{"iou": 0.9, "chamfer_l1": 0.01, "chamfer_l1_x10": 0.1, "normal_consistency": 0.8,
                          "fscore_1pct": 0.7, "seconds": 0.5, "failure": False}])
    text = format_table({"machine": "test box", "splits": {"test": {"poisson": summary, "siren": summary}}})
    lines = text.strip().splitlines()
    assert lines[0] == "test (test box)" and lines[1].split()[:3] == ["model", "shapes", "IoU"]
    assert [line.split()[0] for line in lines[2:]] == ["poisson", "siren"]
    assert lines[2].split()[1:3] == ["1", "0.900"]


def test_row_names_carry_their_variants_and_bad_ones_are_refused(tmp_path):
    import argparse

    import pytest

    from implicit_studio.errors import InputError
    from implicit_studio.evaluate.quality import add_arguments, base_model, run

    assert [base_model(n) for n in ("convonet-grid", "convonet-grid+pose+refine", "onet-pointcloud+refine",
                                    "onet-image@photo", "poisson")] == \
        ["convonet-grid", "convonet-grid", "onet-pointcloud", "onet-image", "poisson"]
    (tmp_path / "manifest.json").write_text("{}")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for models, message in (("poisson+pose", "unknown model"), ("siren+refine", "apply to the learned point-cloud"),
                            ("onet-image+pose", "apply to the learned point-cloud")):
        with pytest.raises(InputError, match=message):
            run(parser.parse_args(["--data", str(tmp_path), "--models", models]))
