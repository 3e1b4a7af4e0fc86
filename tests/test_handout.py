"""``advlab notebooks DIR --with-outputs``: executed notebooks to hand out, never over a file the user changed."""
from __future__ import annotations

from pathlib import Path

import nbformat

from helpers.runner.cli import main
from helpers.runner.handout import hand_out


def _notebook(path: Path, text: str, output: str | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(text)
    if output:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    nb.cells = [cell]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    notebooks, reports = tmp_path / "notebooks", tmp_path / "reports"
    _notebook(notebooks / "00_quickstart.ipynb", "print(1)")
    _notebook(notebooks / "01_other.ipynb", "print(2)")
    (notebooks / "presets" / "quickstart").mkdir(parents=True)
    (notebooks / "presets" / "quickstart" / "smoke.yaml").write_text("epochs: 1\n")
    _notebook(reports / "quickstart" / "quickstart.ipynb", "print(1)", output="1\n")
    return notebooks, reports


def test_executed_notebooks_are_copied_with_outputs(tmp_path):
    notebooks, reports = _layout(tmp_path)
    handed = hand_out(tmp_path / "class", reports, notebooks)
    copied = nbformat.read(tmp_path / "class" / "00_quickstart.ipynb", as_version=4)
    assert copied.cells[0].outputs[0]["text"] == "1\n"
    assert (tmp_path / "class" / "presets" / "quickstart" / "smoke.yaml").is_file()
    assert any("01_other.ipynb" in note and "without outputs" in note for note in handed.notes)


def test_a_changed_file_is_kept_and_the_copy_goes_beside_it(tmp_path):
    notebooks, reports = _layout(tmp_path)
    target = tmp_path / "class"
    _notebook(target / "00_quickstart.ipynb", "print('my edit')")
    handed = hand_out(target, reports, notebooks)
    assert "my edit" in (target / "00_quickstart.ipynb").read_text()
    assert (target / "00_quickstart.executed.ipynb").is_file()
    assert any("kept it" in note for note in handed.notes)
    _notebook(target / "00_quickstart.executed.ipynb", "print('edited too')")
    handed = hand_out(target, reports, notebooks)
    assert "edited too" in (target / "00_quickstart.executed.ipynb").read_text()
    assert any(note.startswith("refused") for note in handed.notes)


def test_a_file_as_the_folder_ends_in_one_line(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["notebooks", str(target), "--with-outputs"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "a-file" in err
