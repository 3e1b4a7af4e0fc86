"""Every study has the same shape, and every notebook is prose plus short calls into helpers.

The contract (see ``helpers/studies/__init__.py``): a package ``helpers.studies.<id>`` per notebook
``notebooks/NN_<id>.ipynb`` with the same modules and names; code cells without loops, conditionals,
functions, classes, asserts, dict/row building, f-strings or subscripts, and at most 12 lines each.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import nbformat
import pytest

import helpers.studies
from conftest import default_parameters
from helpers.headline import Reference
from helpers.params import Param
from helpers.runner.catalog import list_studies
from helpers.runner.colab import SETUP_TAG

STUDIES = list_studies()
PACKAGES = sorted(m.name for m in pkgutil.iter_modules(helpers.studies.__path__) if m.ispkg)
MODULES = ("__init__", "parameters", "reference", "study", "report", "figures")
MAX_LINES = 12

# What a notebook code cell may not contain, with the reason a failing test prints.
FORBIDDEN = {
    ast.For: "a loop", ast.AsyncFor: "a loop", ast.While: "a loop",
    ast.ListComp: "a comprehension", ast.DictComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.GeneratorExp: "a comprehension", ast.FunctionDef: "a function definition",
    ast.AsyncFunctionDef: "a function definition", ast.Lambda: "a lambda", ast.ClassDef: "a class",
    ast.Assert: "an assert", ast.If: "a conditional", ast.IfExp: "a conditional", ast.Try: "a try block",
    ast.Dict: "a dict literal", ast.JoinedStr: "an f-string", ast.Subscript: "a subscript",
}


def test_every_notebook_has_a_study_package_and_back():
    assert sorted(s.id for s in STUDIES) == PACKAGES
    assert sorted(helpers.studies.STUDY_IDS) == PACKAGES


@pytest.mark.parametrize("package", PACKAGES)
def test_study_package_has_the_common_layout(package):
    folder = Path(helpers.studies.__path__[0]) / package
    missing = [m for m in MODULES if not (folder / f"{m}.py").is_file()]
    assert not missing, f"helpers/studies/{package} lacks {', '.join(m + '.py' for m in missing)}"
    load = lambda name: importlib.import_module(f"helpers.studies.{package}.{name}")  # noqa: E731
    parameters, reference, study, report, figures = (load(n) for n in MODULES[1:])
    assert all(isinstance(p, Param) for p in parameters.PARAMETERS.values())
    assert {"preset", "seed"} <= set(parameters.PARAMETERS)
    assert callable(parameters.check_combinations)
    assert hasattr(reference, "SOURCE")
    assert all(isinstance(r, Reference) and r.source for r in reference.REFERENCE.values())
    assert study.STUDY == package and study.TITLE
    assert callable(getattr(study, "fetch_data", None)), "advlab fetch and the Colab setup cell call study.fetch_data(params)"
    assert callable(report.headline)
    assert isinstance(figures.KEY_FIGURE, str) and figures.KEY_FIGURE


@pytest.mark.parametrize("package", PACKAGES)
def test_study_package_imports_no_runner_and_no_other_study(package):
    folder = Path(helpers.studies.__path__[0]) / package
    for path in folder.glob("*.py"):
        source = path.read_text()
        assert "cached_torch_model" not in source, f"{path}: train models through helpers.training.train_or_load"
        for node in ast.walk(ast.parse(source)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                assert not name.startswith("helpers.runner"), f"{path} imports the runner ({name})"
                if name.startswith("helpers.studies."):
                    assert name.split(".")[2] == package, f"{path} imports another study ({name})"


def test_core_modules_import_no_study_and_no_runner():
    root = Path(helpers.studies.__path__[0]).parent
    core = [p for p in root.rglob("*.py") if p.parent.name not in ("studies", "runner")
            and "studies" not in p.parts and "runner" not in p.parts and p.name not in ("notebook.py", "run.py")]
    for path in core:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names] if isinstance(node, ast.Import) else []
            upward = [n for n in names if n.startswith(("helpers.studies", "helpers.runner"))]
            assert not upward, f"core module {path} imports {upward}"


def _code_cells(study):
    """The study's own code cells: not the parameters, not the generated Colab setup cell (tests/test_colab.py)."""
    nb = nbformat.read(study.path, as_version=4)
    return [
        c for c in nb.cells
        if c.cell_type == "code" and not {"parameters", SETUP_TAG} & set(c.metadata.get("tags", []))
    ]


@pytest.mark.parametrize("study", STUDIES, ids=[s.id for s in STUDIES])
def test_notebook_cells_are_prose_or_short_calls(study):
    problems = []
    for number, cell in enumerate(_code_cells(study), 1):
        lines = [line for line in cell.source.splitlines() if line.strip()]
        if len(lines) > MAX_LINES:
            problems.append(f"code cell {number} has {len(lines)} lines (at most {MAX_LINES})")
        for node in ast.walk(ast.parse(cell.source)):
            if type(node) in FORBIDDEN:
                problems.append(f"code cell {number}, line {node.lineno}: {FORBIDDEN[type(node)]}")
    assert not problems, f"{study.path.name}: move logic into helpers.studies.{study.id}:\n" + "\n".join(problems)


@pytest.mark.parametrize("study", STUDIES, ids=[s.id for s in STUDIES])
def test_notebook_opens_and_closes_the_run_and_states_no_runtime(study):
    nb = nbformat.read(study.path, as_version=4)
    code = [c.source for c in _code_cells(study)]
    assert f'open_run("{study.id}", globals())' in code[0], "the first cell after the parameters opens the run"
    assert code[-1].strip().startswith("run.close("), "the last cell closes the run"
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    for claim in ("about 1 minute", "minutes on a", "seconds on a", "about two minutes", "about 8 minutes"):
        assert claim not in prose, f"{study.path.name} states a runtime ({claim!r}); the README's table is the place"


def test_the_contract_rejects_a_notebook_cell_with_logic():
    """The walker itself: the forbidden constructs are found (a test that cannot fail proves nothing)."""
    source = "for x in y:\n    z = {'a': f'{x}'}\nassert z\nrows = [r for r in y]\nv = d['k']"
    found = {FORBIDDEN[type(n)] for n in ast.walk(ast.parse(source)) if type(n) in FORBIDDEN}
    assert {"a loop", "a dict literal", "an f-string", "an assert", "a comprehension", "a subscript"} <= found


@pytest.mark.parametrize(
    "study, preset",
    [(s, p) for s in STUDIES for p in s.presets],
    ids=[f"{s.id}-{p}" for s in STUDIES for p in s.presets],
)
def test_every_preset_passes_the_parameter_checks(study, preset):
    """A preset that the notebook's first cell would reject is caught here, without starting a kernel."""
    from helpers.runner.catalog import load_preset

    parameters = importlib.import_module(f"helpers.studies.{study.id}.parameters")
    values = {**default_parameters(study.id), **load_preset(study, preset), "preset": preset}
    assert set(values) == set(parameters.PARAMETERS), set(values) ^ set(parameters.PARAMETERS)
    for name, spec in parameters.PARAMETERS.items():
        spec.check(name, values[name])
    parameters.check_combinations(values)
