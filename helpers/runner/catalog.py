"""Studies and presets: which notebooks there are and which parameter sets each one can run with.

A study is a notebook ``notebooks/NN_<study>.ipynb``; ``00_quickstart.ipynb`` is the study
``quickstart`` with number ``00``. Its one code cell tagged ``parameters`` holds the *default*
preset (including ``preset = "default"``); every other preset is a YAML file of overrides,
``notebooks/presets/<study>/<preset>.yaml``.

    >>> from helpers.runner.catalog import list_studies, find_study, prepare_notebook
    >>> [s.id for s in list_studies()]                       # doctest: +SKIP
    ['quickstart', 'histology_defense', ...]
    >>> study = find_study("00")                             # id, stem or number
    >>> prepare_notebook(study, "smoke", "/tmp/quickstart.ipynb")   # parameters injected, not run
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from helpers import paths
from helpers.yamlread import YamlValueError, read_yaml, read_yaml_file

DEFAULT_PRESET = "default"
_STEM = re.compile(r"^(?P<number>\d+)_(?P<id>[A-Za-z0-9][A-Za-z0-9_\-]*)$")


class UnknownNameError(ValueError):
    """A study, preset or parameter name that does not exist; the message lists the valid ones."""


@dataclass(frozen=True)
class Study:
    """One notebook: ``id`` ("quickstart"), ``number`` ("00"), ``path``, ``title`` and its presets.

    ``presets`` maps each preset name to its YAML file; the built-in ``default`` preset maps to
    ``None`` (it is the notebook's own parameters cell).
    """

    id: str
    number: str
    path: Path
    title: str
    presets: dict[str, Path | None] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def notebooks_dir(self) -> Path:
        return self.path.parent

    def matches(self, name: str) -> bool:
        """True for the id, the file stem or the number (``quickstart``, ``00_quickstart``, ``00``)."""
        name = name.strip()
        if name.endswith(".ipynb"):
            name = Path(name).stem
        if name in (self.id, self.stem):
            return True
        return name.isdigit() and int(name) == int(self.number)


# --------------------------------------------------------------------------------------------------
# Discovery


def _title_of(path: Path) -> str | None:
    """The text of the first markdown heading in the notebook, without its ``#`` marks."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        for line in source.splitlines():
            heading = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if heading:
                return heading.group(1).strip()
    return None


def _presets_of(notebooks_dir: Path, study_id: str) -> dict[str, Path | None]:
    presets: dict[str, Path | None] = {DEFAULT_PRESET: None}
    folder = notebooks_dir / "presets" / study_id
    if folder.is_dir():
        for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            presets.setdefault(file.stem, file)
    return presets


def list_studies(notebooks_dir: str | Path | None = None) -> list["Study"]:
    """Every ``NN_<study>.ipynb`` in the notebooks folder, sorted by number (then id)."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else paths.notebooks_dir()
    studies: dict[str, Study] = {}
    for path in sorted(folder.glob("*.ipynb")):
        match = _STEM.match(path.stem)
        if not match:
            continue
        study_id = match.group("id")
        if study_id in studies:
            raise ValueError(f"two notebooks define the study {study_id!r}: {studies[study_id].path.name} and {path.name}")
        studies[study_id] = Study(
            id=study_id,
            number=match.group("number"),
            path=path.resolve(),
            title=_title_of(path) or study_id.replace("_", " ").capitalize(),
            presets=_presets_of(folder, study_id),
        )
    return sorted(studies.values(), key=lambda s: (int(s.number), s.id))


def _valid_studies(studies: Iterable[Study]) -> str:
    return ", ".join(f"{s.id} ({s.number})" for s in studies) or "none"


def study_from_path(path: Path) -> Study:
    """The study of the notebook file at ``path`` (an edited copy anywhere): its presets are those in
    ``presets/<study>/`` beside it, else the collection's; ``UnknownNameError`` in one line otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UnknownNameError(f"no notebook at {path}")
    match = _STEM.match(path.stem)
    if not match:
        raise UnknownNameError(f"notebook {path} is not named NN_<study>.ipynb (e.g. 00_quickstart.ipynb)")
    study_id = match.group("id")
    presets = _presets_of(path.parent, study_id)
    if len(presets) == 1:
        presets = _presets_of(paths.notebooks_dir(), study_id)
    return Study(id=study_id, number=match.group("number"), path=path.resolve(),
                 title=_title_of(path) or study_id.replace("_", " ").capitalize(), presets=presets)


def find_study(name: str | Study, notebooks_dir: str | Path | None = None) -> Study:
    """The study called ``name`` (id, stem or number); ``UnknownNameError`` lists the valid ones."""
    if isinstance(name, Study):
        return name
    if str(name).endswith(".ipynb") and (Path(name).exists() or "/" in str(name) or "\\" in str(name)):
        return study_from_path(Path(name))
    studies = list_studies(notebooks_dir)
    for study in studies:
        if study.matches(str(name)):
            return study
    folder = Path(notebooks_dir) if notebooks_dir is not None else paths.notebooks_dir()
    raise UnknownNameError(f"unknown study {name!r} in {folder}; valid: {_valid_studies(studies)}")


# --------------------------------------------------------------------------------------------------
# Presets and parameters


def load_preset(study: str | Study, name: str = DEFAULT_PRESET) -> dict[str, Any]:
    """The parameter overrides of preset ``name`` (``{}`` for ``default``); unknown names raise."""
    study = find_study(study)
    if name not in study.presets:
        raise UnknownNameError(
            f"unknown preset {name!r} for study {study.id!r}; valid: {', '.join(study.presets)}"
        )
    path = study.presets[name]
    if path is None:
        return {}
    values = read_yaml_file(path)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"preset file {path} must hold a mapping of parameter: value, not {type(values).__name__}")
    bad = [key for key in values if not isinstance(key, str)]
    if bad:
        raise ValueError(f"preset file {path}: parameter names must be text, got {bad[0]!r}")
    return dict(values)


def notebook_parameters(study: str | Study) -> dict[str, dict[str, Any]]:
    """The notebook's ``parameters`` cell as ``{name: {"default": ..., "type": ..., "help": ...}}``."""
    import papermill

    study = find_study(study)
    try:
        found = papermill.inspect_notebook(str(study.path))
    except ValueError:  # no kernelspec/language metadata: read the cell as Python
        import nbformat
        from papermill.translators import PythonTranslator

        nb = nbformat.read(study.path, as_version=4)
        cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        found = {p.name: p._asdict() for p in PythonTranslator.inspect(cells[0])} if cells else {}
    return {
        name: {"default": info.get("default"), "type": info.get("inferred_type_name"), "help": info.get("help", "")}
        for name, info in found.items()
    }


def parse_value(text: str, name: str | None = None) -> Any:
    """A command-line value as a YAML scalar or list: ``3`` -> 3, ``0.1`` -> 0.1, ``[1,2]``, ``true``.

    Read with the YAML 1.2 core schema (``helpers.yamlread``): ``1e-3`` is a float, ``01750`` is 1750,
    ``no`` and ``2024-01-01`` stay text. Text that is not YAML is kept as text; aliases, anchors, tags
    and repeated keys raise ``ValueError`` naming the parameter ``name``.
    """
    source = f"parameter {name!r} (-p {name}=...)" if name else "a parameter value"
    try:
        return read_yaml(text, source=source)
    except YamlValueError as error:
        if error.refused:
            raise
        return text


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["epochs=3", "eps=[0.1,0.2]"]`` -> ``{"epochs": 3, "eps": [0.1, 0.2]}``."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"bad parameter {pair!r}: expected key=value, e.g. -p epochs=3")
        overrides[key] = parse_value(value.strip(), key)
    return overrides


def build_parameters(
    study: str | Study, preset: str = DEFAULT_PRESET, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Preset YAML, then ``overrides``, then ``preset=<name>``; unknown names raise ``UnknownNameError``."""
    study = find_study(study)
    values = load_preset(study, preset)
    overrides = dict(overrides or {})
    if "preset" in overrides and overrides["preset"] != preset:
        raise UnknownNameError("set the preset with --preset (or the preset argument), not as a parameter")
    known = notebook_parameters(study)
    for source, names in ((f"preset {preset!r}", values), ("the overrides", overrides)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UnknownNameError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"in {source} for study {study.id!r}; valid: {', '.join(known) or 'none (no parameters cell)'}"
            )
    _check_values(study, values, f"preset file {study.presets.get(preset)}")
    _check_values(study, overrides, "-p")
    values.update(overrides)
    values["preset"] = preset
    return values


def _check_values(study: Study, values: Mapping[str, Any], source: str) -> None:
    """Check ``values`` against the study's parameter schema, when the study has one in ``helpers.studies``,
    so that a wrong value stops the runner in one line naming where it came from."""
    if not values:
        return
    import importlib.util

    module_name = f"helpers.studies.{study.id}.parameters"
    try:
        if importlib.util.find_spec(module_name) is None:
            return
    except (ImportError, ValueError):
        return
    import importlib

    from helpers.params import ParameterError

    schema = getattr(importlib.import_module(module_name), "PARAMETERS", {})
    for name, value in values.items():
        if name in schema:
            try:
                schema[name].check(name, value)
            except ParameterError as error:
                where = f"-p {name}" if source == "-p" else source
                raise ValueError(f"{where}: {error}") from None


def prepare_notebook(
    study: str | Study,
    preset: str = DEFAULT_PRESET,
    out_path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    kernel_name: str | None = None,
) -> Path:
    """Write a copy of the study's notebook with the preset's parameters injected, without running it."""
    import papermill

    study = find_study(study)
    if out_path is None:
        raise TypeError("prepare_notebook() needs out_path")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    parameters = build_parameters(study, preset, overrides)
    papermill.execute_notebook(
        str(study.path),
        str(out_path),
        parameters=parameters,
        prepare_only=True,
        kernel_name=kernel_name or "python3",
        language="python",
        progress_bar=False,
    )
    return out_path
