import json

import matplotlib
import numpy as np
import pytest

from helpers import paths, plots, tables
from helpers.results import StageTimer, format_headline, show_metrics, write_metrics


def test_figures_are_saved_as_png_in_the_report_folder():
    fig = plots.plot_accuracy_vs_epsilon({"FGSM": {0.0: 0.99, 0.1: 0.5}, "PGD": {0.0: 0.99, 0.1: 0.1}}, chance=0.1)
    plots.save_figure(fig, "curve", "demo")
    saved = paths.report_dir("demo") / "curve.png"
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [line.get_label() for line in fig.axes[0].lines][:2] == ["FGSM", "PGD"]
    with pytest.raises(ValueError):
        plots.save_figure(fig, "../escape", "demo")


def test_report_dir_follows_the_runner_staging_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVLAB_REPORT_DIR", str(tmp_path / "staged"))
    assert paths.report_dir("anything") == (tmp_path / "staged").resolve()


def test_image_grid_colours_captions_by_correctness():
    images = [np.zeros((1, 8, 8)), np.ones((3, 8, 8))]
    fig = plots.image_grid([images, images], row_labels=["clean", "adv"], captions=[["a", "b"], ["c", "d"]],
                           correct=[[True, False], [True, True]])
    titles = {ax.get_title(): ax.title.get_color() for ax in fig.axes}
    assert matplotlib.colors.same_color(titles["b"], plots.WRONG)
    assert matplotlib.colors.same_color(titles["a"], plots.CORRECT)
    plain = plots.image_grid([images], row_labels=["clean"], captions=[["a", "b"]])  # captions without colours
    assert [ax.get_title() for ax in plain.axes] == ["a", "b"]


def test_training_history_plot_has_validation_when_recorded():
    history = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.45},
               {"epoch": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.75}]
    fig = plots.plot_training_history(history)
    assert len(fig.axes[0].lines) == 2


def test_write_metrics_records_everything_the_index_needs():
    timer = StageTimer()
    with timer.stage("train"):
        pass
    path = write_metrics("demo", title="Demo", preset="smoke", parameters={"eps": (0.1, 0.2)},
                         headline={"clean accuracy": np.float32(0.5)}, timer=timer, device="cpu")
    record = json.loads(path.read_text())
    assert record["study"] == "demo" and record["preset"] == "smoke"
    assert record["headline"] == {"clean accuracy": 0.5}
    assert record["parameters"] == {"eps": [0.1, 0.2]}
    assert "train" in record["stage_seconds"] and record["wall_seconds"] >= 0
    assert record["versions"]["torch"]
    show_metrics(path)  # renders without a kernel too (IPython prints the Markdown object)


def test_format_headline_and_markdown_table():
    text = format_headline({"clean accuracy": 0.975, "model from cache": False})
    assert "97.5%" in text and "False" in text
    table = tables.markdown_table([["0.1", 0.5, 3]], ["eps", "acc", "n"])
    assert table.splitlines()[2] == "| 0.1 | 50.0% | 3 |"
    with pytest.raises(ValueError):
        tables.markdown_table([[1]], ["a", "b"])
