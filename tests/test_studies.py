"""Study discovery, presets, parameter parsing and prepare_notebook (no kernels started)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from helpers.runner.catalog import (
    UnknownNameError,
    build_parameters,
    find_study,
    list_studies,
    load_preset,
    notebook_parameters,
    parse_overrides,
    parse_value,
    prepare_notebook,
)

PARAMS = 'preset = "default"\nepochs = 2  # training epochs\neps = [0.1]\nlr = 0.01\nname = "x"\n'


def write_notebook(path: Path, *, title: str | None, params: str | None = PARAMS, body: str = "x = 1") -> Path:
    cells = []
    if title:
        cells.append(nbformat.v4.new_markdown_cell(f"Intro line\n\n# {title}\n\nMore text."))
    if params is not None:
        cells.append(nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}))
    cells.append(nbformat.v4.new_code_cell(body))
    nb = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
            "language_info": {"name": "python"},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def nbdir(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    write_notebook(folder / "10_later.ipynb", title="Later study")
    write_notebook(folder / "00_quickstart.ipynb", title="Quickstart: FGSM on MNIST")
    write_notebook(folder / "02_no_title.ipynb", title=None)
    write_notebook(folder / "scratch.ipynb", title="Not a study")  # no NN_ prefix: ignored
    (folder / "presets" / "quickstart").mkdir(parents=True)
    (folder / "presets" / "quickstart" / "smoke.yaml").write_text("epochs: 1\neps: [0.05, 0.1]\n")
    (folder / "presets" / "quickstart" / "full.yaml").write_text("epochs: 20\n")
    (folder / "presets" / "quickstart" / "empty.yaml").write_text("")
    (folder / "presets" / "quickstart" / "typo.yaml").write_text("epoch: 3\n")
    (folder / "presets" / "later" / "bad.yaml").parent.mkdir(parents=True)
    (folder / "presets" / "later" / "bad.yaml").write_text("- just\n- a list\n")
    return folder


def test_list_studies_sorted_with_titles_and_presets(nbdir):
    found = list_studies(nbdir)
    assert [(s.number, s.id) for s in found] == [("00", "quickstart"), ("02", "no_title"), ("10", "later")]
    quick = found[0]
    assert quick.title == "Quickstart: FGSM on MNIST"
    assert quick.path == (nbdir / "00_quickstart.ipynb").resolve()
    assert list(quick.presets) == ["default", "empty", "full", "smoke", "typo"]
    assert quick.presets["default"] is None
    assert quick.presets["smoke"] == nbdir / "presets" / "quickstart" / "smoke.yaml"
    assert found[1].title == "No title"  # no heading: derived from the id
    assert list(found[1].presets) == ["default"]


def test_list_studies_empty_and_duplicate_ids(tmp_path):
    assert list_studies(tmp_path) == []
    write_notebook(tmp_path / "00_same.ipynb", title="A")
    write_notebook(tmp_path / "01_same.ipynb", title="B")
    with pytest.raises(ValueError, match="same"):
        list_studies(tmp_path)


@pytest.mark.parametrize("name", ["quickstart", "00_quickstart", "00", "0", "00_quickstart.ipynb"])
def test_find_study_by_id_stem_or_number(nbdir, name):
    assert find_study(name, nbdir).id == "quickstart"


def test_find_study_unknown_lists_valid(nbdir):
    with pytest.raises(UnknownNameError) as err:
        find_study("quikstart", nbdir)
    message = str(err.value)
    assert "quikstart" in message and "quickstart (00)" in message and "later (10)" in message
    assert "\n" not in message


def test_load_preset(nbdir):
    quick = find_study("quickstart", nbdir)
    assert load_preset(quick, "default") == {}
    assert load_preset(quick, "smoke") == {"epochs": 1, "eps": [0.05, 0.1]}
    assert load_preset(quick, "empty") == {}
    with pytest.raises(UnknownNameError, match="valid: default, empty, full, smoke, typo"):
        load_preset(quick, "smokey")
    with pytest.raises(ValueError, match="mapping"):
        load_preset(find_study("later", nbdir), "bad")


def test_notebook_parameters(nbdir):
    params = notebook_parameters(find_study("quickstart", nbdir))
    assert list(params) == ["preset", "epochs", "eps", "lr", "name"]
    assert params["epochs"]["default"] == "2" and params["epochs"]["help"] == "training epochs"


def test_notebook_without_parameters_cell_or_metadata(tmp_path):
    write_notebook(tmp_path / "00_bare.ipynb", title="Bare", params=None)
    assert notebook_parameters(find_study("bare", tmp_path)) == {}
    nb = nbformat.read(write_notebook(tmp_path / "01_nometa.ipynb", title="No metadata"), as_version=4)
    nb.metadata = {}
    nbformat.write(nb, tmp_path / "01_nometa.ipynb")
    assert "epochs" in notebook_parameters(find_study("nometa", tmp_path))


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("-2", -2),
        ("0.1", 0.1),
        ("1e-3", 1e-3),
        ("2.5E+2", 250.0),
        ("[0.1,0.2]", [0.1, 0.2]),
        ("[1, 1e-3, pgd]", [1, 1e-3, "pgd"]),
        ("true", True),
        ("pgd", "pgd"),
        ("'3'", "3"),
        ("inf", "inf"),
        ("", None),
        ("[unclosed", "[unclosed"),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_parse_overrides():
    assert parse_overrides(["epochs=3", "eps=[0.1,0.2]", "name = a=b "]) == {
        "epochs": 3,
        "eps": [0.1, 0.2],
        "name": "a=b",
    }
    for bad in ["epochs", "=3", "two words=1"]:
        with pytest.raises(ValueError, match="key=value"):
            parse_overrides([bad])


def test_build_parameters_merges_preset_then_overrides(nbdir):
    quick = find_study("quickstart", nbdir)
    assert build_parameters(quick) == {"preset": "default"}
    assert build_parameters(quick, "smoke", {"epochs": 3}) == {"epochs": 3, "eps": [0.05, 0.1], "preset": "smoke"}
    with pytest.raises(UnknownNameError) as err:
        build_parameters(quick, "default", {"epoch": 3})
    assert "'epoch'" in str(err.value) and "valid: preset, epochs, eps, lr, name" in str(err.value)
    with pytest.raises(UnknownNameError, match="'epoch' in preset 'typo'"):
        build_parameters(quick, "typo")
    with pytest.raises(UnknownNameError, match="--preset"):
        build_parameters(quick, "smoke", {"preset": "full"})


def test_prepare_notebook_injects_without_running(nbdir, tmp_path):
    out = prepare_notebook(find_study("quickstart", nbdir), "smoke", tmp_path / "out" / "q.ipynb", {"lr": 0.5})
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    source = injected[0].source
    assert 'preset = "smoke"' in source and "epochs = 1" in source and "lr = 0.5" in source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # nothing executed


def test_prepare_notebook_rejects_unknown_names(nbdir, tmp_path):
    quick = find_study("quickstart", nbdir)
    with pytest.raises(UnknownNameError):
        prepare_notebook(quick, "nope", tmp_path / "x.ipynb")
    with pytest.raises(UnknownNameError):
        prepare_notebook(quick, "smoke", tmp_path / "x.ipynb", {"nope": 1})
    assert not (tmp_path / "x.ipynb").exists()
