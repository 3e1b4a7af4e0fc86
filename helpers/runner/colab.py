"""Open in Colab: each notebook's setup cell and the README's badges, both made from one repository URL.

The URL is written once, as ``Repository`` under ``[project.urls]`` in ``pyproject.toml``.
``advlab colab --update`` rewrites every notebook's setup cell and the README's badge table from it;
``tests/test_colab.py`` checks that they agree, so a fork changes one line and reruns the command.

The setup cell is the notebook's first code cell, before ``parameters``. In Colab it installs advlab
from the repository with the version *ranges* of ``pyproject.toml`` (so Colab keeps its own torch and
TensorFlow) and downloads the study's data (``helpers.runner.fetch``: a call, not ``!advlab``, so it
works whatever the shell's PATH); anywhere else, or once advlab is importable, it does nothing. It binds
no name the parameter check could take for a parameter (``importlib`` and ``helpers`` are modules).
"""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Iterable

import nbformat

from helpers import paths

SETUP_TAG = "colab-setup"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
README_START = "<!-- colab:start -->"
README_END = "<!-- colab:end -->"
_GITHUB = re.compile(r"^https://github\.com/(?P<slug>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")


def repository_url() -> str:
    """``[project.urls] Repository``: from ``pyproject.toml`` in a checkout, else the installed metadata."""
    pyproject = paths.REPO_ROOT / "pyproject.toml"
    if paths.in_checkout():
        return tomllib.loads(pyproject.read_text())["project"]["urls"]["Repository"]
    for entry in metadata.metadata("advlab").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise LookupError("advlab's metadata has no Repository URL")


def github_slug(url: str) -> str:
    """``owner/name`` of a GitHub URL; Colab opens notebooks from GitHub only."""
    match = _GITHUB.match(url)
    if not match:
        raise ValueError(f"not a GitHub repository URL: {url!r} (Colab opens notebooks from GitHub)")
    return match["slug"]


def setup_cell_source(study: str, url: str | None = None) -> str:
    """The first code cell of the study's notebook."""
    url = url or repository_url()
    return (
        "# Google Colab only; elsewhere, or once advlab is installed, this cell does nothing. It installs\n"
        "# advlab from its repository with version ranges (Colab keeps its own torch and TensorFlow)\n"
        "# and downloads the data this study needs.\n"
        "import importlib.util\n"
        'if importlib.util.find_spec("google.colab") and not importlib.util.find_spec("helpers"):\n'
        f'    %pip install --quiet "advlab @ git+{url}"\n'
        "    importlib.invalidate_caches()\n"
        "    import helpers.runner.fetch\n"
        f'    helpers.runner.fetch.fetch("{study}")'
    )


def colab_url(notebook: str, url: str | None = None, branch: str = "main") -> str:
    """The address that opens ``notebooks/<notebook>`` of the repository in Colab."""
    slug = github_slug(url or repository_url())
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{notebook}"


def badge_markdown(notebook: str, url: str | None = None) -> str:
    return f"[![Open in Colab]({BADGE_IMAGE})]({colab_url(notebook, url)})"


def is_setup_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and SETUP_TAG in cell.get("metadata", {}).get("tags", [])


def with_setup_cell(nb, study: str, url: str | None = None):
    """``nb`` with exactly one setup cell, up to date, right before the ``parameters`` cell."""
    cells = [cell for cell in nb.cells if not is_setup_cell(cell)]
    at = next(i for i, cell in enumerate(cells) if "parameters" in cell.get("metadata", {}).get("tags", []))
    setup = nbformat.v4.new_code_cell(setup_cell_source(study, url), metadata={"tags": [SETUP_TAG]})
    setup["id"] = SETUP_TAG  # a fixed id keeps rewrites of the notebook byte-for-byte stable
    nb.cells = cells[:at] + [setup] + cells[at:]
    return nb


def badge_table(studies: Iterable, url: str | None = None) -> str:
    rows = ["| study | open |", "|---|---|"]
    rows += [f"| {s.title} | {badge_markdown(s.path.name, url)} |" for s in studies]
    return "\n".join(rows)


def update_readme(readme: Path, studies: Iterable, url: str | None = None) -> bool:
    """Rewrite the badge table between the README's colab markers; True when the file changed."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme} has no {README_START} ... {README_END} markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{badge_table(studies, url)}\n{README_END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text


def update_notebooks(studies: Iterable, url: str | None = None) -> list[Path]:
    """Give every study notebook its up-to-date setup cell; returns the notebooks that changed."""
    changed = []
    for study in studies:
        before = study.path.read_text()
        nb = with_setup_cell(nbformat.reads(before, as_version=4), study.id, url)
        after = nbformat.writes(nb) + "\n"
        if after != before:
            study.path.write_text(after)
            changed.append(study.path)
    return changed


def main(argv: list[str]) -> int:
    """``advlab colab``: print the badges; ``--update [README.md]`` rewrites the notebooks and README."""
    from helpers.runner.catalog import list_studies

    studies = list_studies()
    if not argv:
        print(badge_table(studies))
        return 0
    if argv[0] != "--update" or len(argv) > 2:
        print("usage: advlab colab [--update [README.md]]", flush=True)
        return 2
    readme = Path(argv[1]) if len(argv) == 2 else paths.REPO_ROOT / "README.md"
    for path in update_notebooks(studies):
        print(f"updated the setup cell of {path.name}")
    if update_readme(readme, studies):
        print(f"updated the Colab badges in {readme}")
    return 0
