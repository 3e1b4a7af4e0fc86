"""The lifecycle every study notebook opens and closes.

    from helpers.notebook import open_run
    run = open_run("quickstart", globals())   # right after the parameters cell
    with run.stage("train"):
        ...
    run.close(report.headline(...))            # last cell

``open_run`` checks the parameters against the study's schema and cross-parameter checks, seeds every
framework, picks the device and starts the stage timer. ``close`` writes ``metrics.json`` beside the
report and shows the headline: each metric with its label and unit, beside the source study's value.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from helpers.findings import Outcome
from helpers.headline import Metric, verdict
from helpers.formatting import escape_markdown, format_number
from helpers.params import check_parameters
from helpers.progress import announce
from helpers.results import StageTimer, write_metrics


@dataclass
class StudyRun:
    """One execution of a study notebook: its checked parameters, device and stage timer."""

    study: str
    title: str
    params: dict[str, Any]
    device: Any  # a torch.device, or None for TensorFlow studies
    device_description: str
    frameworks: tuple[str, ...] = ("torch",)
    key_figure: str | None = None
    timer: StageTimer = field(default_factory=StageTimer)
    metrics_path: Path | None = None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage (``metrics.json`` records it) and announce it on the batch runner's terminal.

        Every framework is reseeded from (run seed, stage name) first, so a stage draws the same random
        numbers whether an earlier stage trained its model or loaded it from the cache.
        """
        from helpers.device import seed_everything

        seed_everything(stage_seed(self.params["seed"], name), tensorflow="tensorflow" in self.frameworks)
        announce(f"{self.study}: {name}")
        with self.timer.stage(name):
            yield

    def save(self, fig, name: str) -> None:
        """Save a figure beside the report (PNG and SVG); the figure still shows in the notebook."""
        from helpers.plots import save_figure

        save_figure(fig, name, self.study)

    def show_code(self, method: str) -> None:
        """Show the readable implementation of one of the study's methods (``study.METHODS[method]``)."""
        definition = importlib.import_module(f"helpers.studies.{self.study}.study")
        methods = getattr(definition, "METHODS", {})
        if method not in methods:
            raise KeyError(f"{self.study} has no method {method!r} to show; it has {', '.join(methods) or 'none'}")
        show_code(methods[method])

    def close(self, headline: Iterable[Metric], findings: Iterable[Outcome] = (),
              extra: Mapping[str, Any] | None = None) -> None:
        """Write ``metrics.json``; show the findings with their verdicts, then the headline numbers.

        The study's value stands beside ours with a verdict only at a preset that follows the study's
        protocol for it (``PROTOCOL_PRESETS`` in the study's ``reference.py``; see ``Metric.at_preset``).
        """
        preset = self.params.get("preset", "")
        reference = importlib.import_module(f"helpers.studies.{self.study}.reference")
        protocol = tuple(getattr(reference, "PROTOCOL_PRESETS", ("full",)))
        metrics = [m.at_preset(preset, protocol) for m in headline]
        outcomes = list(findings)
        self.metrics_path = write_metrics(
            self.study, title=self.title, preset=preset, parameters=self.params,
            headline=metrics, findings=outcomes, timer=self.timer, device=self.device_description,
            frameworks=self.frameworks, extra=extra, key_figure=self.key_figure,
        )
        announce(f"{self.study}: done in {self.timer.wall_seconds:.0f} s")
        if outcomes:
            show_findings(outcomes, preset=preset)
        show_headline(metrics, preset=preset, where=self.metrics_path.name, follows_protocol=preset in protocol)


def show_code(function: Callable) -> None:
    """Display ``function``'s source with syntax highlighting, headed by where it lives in ``helpers``."""
    from IPython.display import Code, Markdown, display

    module = inspect.getmodule(function)
    where = Path(inspect.getsourcefile(function)).resolve()
    package_root = Path(__file__).resolve().parent.parent
    shown = where.relative_to(package_root) if where.is_relative_to(package_root) else where.name
    display(Markdown(f"`{function.__name__}` in `{shown}` (module `{module.__name__}`)"))
    display(Code(textwrap.dedent(inspect.getsource(function)), language="python"))


def show_findings(outcomes: Iterable[Outcome], *, preset: str = "") -> None:
    from IPython.display import Markdown, display

    from helpers.findings import findings_markdown

    scale = f" at the {escape_markdown(preset)} preset" if preset else ""
    display(Markdown(f"**Findings{scale}**\n\n{findings_markdown(list(outcomes))}"))


def stage_seed(seed: int, stage: str) -> int:
    """The seed of stage ``stage`` in a run seeded with ``seed``: stable, below 2**32, distinct per stage."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}:{stage}".encode()).digest()[:4], "big")


def headline_markdown(metrics: Iterable[Metric]) -> str:
    """The headline as a Markdown table: metric, ours, the study's value, where the study says so, verdict."""
    lines = ["| metric | this run | study | where in the study | |", "|---|---|---|---|---|"]
    for m in metrics:
        setting = ", ".join(f"{k} {v}" for k, v in m.detail.items())
        label = f"{m.label} ({setting})" if setting else m.label
        study = format_number(m.study, m.unit) if m.study is not None else ""
        lines.append(f"| {label} | {format_number(m.value, m.unit)} | {study} | {m.study_source} | {verdict(m)} |")
    return "\n".join(lines)


def show_headline(metrics: Iterable[Metric], *, preset: str = "", where: str = "metrics.json",
                  follows_protocol: bool = False) -> None:
    from IPython.display import Markdown, display

    from helpers.formatting import escape_markdown

    title = f"**Headline ({escape_markdown(preset)} preset)**" if preset else "**Headline**"
    if follows_protocol:
        scale = "This preset follows the source study's protocol, so its numbers are compared with the study's."
    elif preset == "smoke":
        scale = "The smoke preset only checks that everything runs; its numbers are not compared with anything."
    else:
        scale = ("This preset is smaller than the source study's protocol: the study's numbers stand beside ours "
                 "for scale, not as a test. The findings above are what this preset can check.")
    display(Markdown(
        f"{title}\n\n{scale}\n\n{headline_markdown(metrics)}\n\n"
        f"`{where}` beside this report also holds the parameters, the time per stage and the library versions."
    ))


def _device(params: Mapping[str, Any], frameworks: tuple[str, ...]) -> tuple[Any, str]:
    if "tensorflow" in frameworks:
        from helpers.frameworks import describe_tensorflow_device

        return None, describe_tensorflow_device()
    from helpers.device import describe_device, pick_device

    device = pick_device(params.get("device", "auto"))
    return device, describe_device(device)


def open_run(study: str, namespace: Mapping[str, Any]) -> StudyRun:
    """Start a run of ``helpers.studies.<study>`` with the parameters defined in ``namespace`` (``globals()``)."""
    parameters = importlib.import_module(f"helpers.studies.{study}.parameters")
    definition = importlib.import_module(f"helpers.studies.{study}.study")
    figures = importlib.import_module(f"helpers.studies.{study}.figures")
    params = check_parameters(namespace, parameters.PARAMETERS)
    parameters.check_combinations(params)
    frameworks = tuple(getattr(definition, "FRAMEWORKS", ("torch",)))

    from helpers.device import seed_everything

    if "tensorflow" in frameworks:
        from helpers.frameworks import import_tensorflow

        import_tensorflow()
    seed_everything(params["seed"], tensorflow="tensorflow" in frameworks)
    device, description = _device(params, frameworks)
    run = StudyRun(definition.STUDY, definition.TITLE, params, device, description, frameworks, figures.KEY_FIGURE)
    announce(f"{run.study}: preset {params.get('preset')}, seed {params['seed']}, {description}")
    print(f"{run.title}\npreset {params.get('preset')} · seed {params['seed']} · device {description}")
    return run
