import json

import matplotlib
import numpy as np
import pytest

from helpers import paths, plots, tables
from helpers.headline import Reference, metric
from helpers.notebook import headline_markdown, show_headline
from helpers.results import StageTimer, write_metrics


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
                         headline=[metric("clean_accuracy", "clean accuracy", np.float32(0.5), unit="%")],
                         timer=timer, device="cpu")
    record = json.loads(path.read_text())
    assert record["study"] == "demo" and record["preset"] == "smoke"
    assert record["headline"][0]["key"] == "clean_accuracy" and record["headline"][0]["value"] == 50.0
    assert record["parameters"] == {"eps": [0.1, 0.2]}
    assert "train" in record["stage_seconds"] and record["wall_seconds"] >= 0
    assert record["versions"]["torch"]
    show_headline([], preset="smoke")  # renders without a kernel too (IPython prints the Markdown object)


def test_headline_sets_the_study_value_beside_ours_and_judges_it():
    reference = {"pgd_accuracy": Reference(3.24, "Table 2", tolerance=2.0)}
    close = metric("pgd_accuracy", "PGD accuracy", 0.04, unit="%", reference=reference, eps=0.03)
    far = metric("pgd_accuracy", "PGD accuracy", 0.40, unit="%", reference=reference)
    plain = metric("model_from_cache", "model from cache", False)
    assert close.value == 4.0 and close.study == 3.24 and close.reproduced is True
    assert far.reproduced is False and plain.reproduced is None
    text = headline_markdown([close, far, plain])
    assert "| PGD accuracy (eps 0.03) | 4.0% | 3.2% | Table 2 | reproduced |" in text
    assert "not reproduced" in text and "| model from cache | no |" in text
    with pytest.raises(ValueError):
        metric("PGD accuracy at eps=0.3", "x", 0.1)  # parameter values belong in the detail


def test_markdown_table():
    table = tables.markdown_table([["0.1", 0.5, 3]], ["eps", "acc", "n"])
    assert table.splitlines()[2] == "| 0.1 | 50.0% | 3 |"
    with pytest.raises(ValueError):
        tables.markdown_table([[1]], ["a", "b"])
