"""HTML reports of an executed notebook: clean, offline, in two versions.

- ``<study>.html``: the whole executed notebook (code and outputs), for people who want to see how;
- ``<study>.reader.html``: the same without input cells, for people who want the findings.

Both use JupyterLab's look through the ``advlab`` template (``templates/advlab``), which loads
nothing from a network, and embed figures as base64. The notebooks' LaTeX (``$...$`` and ``$$...$$`` in
Markdown cells and Markdown outputs) is turned into MathML here, on the server side, by ``latex2mathml``:
browsers render MathML natively, so formulas need no MathJax and no network. Before export, ``clean_notebook`` removes what
a reader must not meet: progress bars and known framework noise on stderr (the batch runner already
sends progress to its terminal; this is the safety net for libraries that print on their own).
"""
from __future__ import annotations

import re
from pathlib import Path

from helpers.runner.colab import is_setup_cell

TEMPLATES = Path(__file__).resolve().parent / "templates"
READER_SUFFIX = ".reader.html"

# Whole stderr lines that are noise in a report, whoever printed them.
_NOISE_LINES = [
    re.compile(r"TqdmWarning: IProgress not found"),
    re.compile(r"^\s*from \.autonotebook import tqdm as notebook_tqdm\s*$"),
    re.compile(r"^\s*\S*\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] (tensorflow|external)/"),  # TF C++ logs
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\] "),  # absl/glog lines (cuInit on a CPU box)
    re.compile(r"oneDNN custom operations are on"),
    re.compile(r"Kernel is running over TCP without encryption"),
    re.compile(r"^\s*WARNING: All log messages before absl::InitializeLog"),
]
# A tqdm-style bar: "desc:  40%|####      | 4/10 [00:01<00:02, 3.2it/s]"
PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\|\s*\d+/\d+ \[\d")


def clean_stderr(text: str) -> str:
    """``text`` without progress redraws and noise lines (carriage-return updates keep their last state)."""
    kept = []
    for line in text.split("\n"):
        line = line.rsplit("\r", 1)[-1] if "\r" in line else line
        if PROGRESS_BAR.search(line) or any(p.search(line) for p in _NOISE_LINES):
            continue
        kept.append(line)
    cleaned = "\n".join(kept)
    return cleaned if cleaned.strip() else ""


def clean_notebook(nb) -> int:
    """Remove progress and noise from every stderr output of ``nb`` in place; returns how many outputs changed."""
    changed = 0
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
                cleaned = clean_stderr(text)
                if cleaned != text:
                    changed += 1
                if not cleaned:
                    continue
                output["text"] = cleaned
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return changed


# Math in Markdown: $$display$$ or $inline$ (no space just inside the dollars, no digit right after the closing
# one, so "$5 and $6" stays text). Code spans and fences are left alone.
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?!\d)", re.S)
_TOKEN = "ADVLABMATH{:05d}X"
_TOKEN_PATTERN = re.compile(r"ADVLABMATH(\d{5})X")


def latex_to_mathml(latex: str, *, block: bool) -> str:
    """One formula as MathML; a formula the converter cannot read is shown as its source in code style."""
    import html as _html

    from latex2mathml.converter import convert

    try:
        return convert(latex.strip(), display="block" if block else "inline")
    except Exception:  # noqa: BLE001 - any converter failure shows the source instead of breaking the report
        return f'<code class="latex">{_html.escape(latex.strip())}</code>'


def _take_math(text: str, formulas: list[str]) -> str:
    """``text`` with every formula outside code replaced by a placeholder; the MathML goes to ``formulas``."""
    def replace(match: re.Match) -> str:
        block = match.group(1) is not None
        formulas.append(latex_to_mathml(match.group(1) if block else match.group(2), block=block))
        return _TOKEN.format(len(formulas) - 1)

    parts = _CODE.split(text)
    return "".join(part if index % 2 else _MATH.sub(replace, part) for index, part in enumerate(parts))


def math_to_placeholders(nb) -> list[str]:
    """Replace the LaTeX of ``nb``'s Markdown cells and Markdown outputs by placeholders, in place."""
    formulas: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _take_math(cell.source, formulas)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                text = data["text/markdown"]
                data["text/markdown"] = _take_math("".join(text) if isinstance(text, list) else text, formulas)
    return formulas


_DETAILS = re.compile(r"<details>\s*<summary>(.*?)</summary>(.*?)</details>", re.S)


def fold_details(nb) -> None:
    """Render the Markdown inside each ``<details>`` block of ``nb``'s Markdown cells to HTML, in place.

    An exercise's answer is Markdown folded in ``<details>``: JupyterLab renders that, but the exporter's Markdown
    renderer ends the HTML block at the first blank line, so the answer would show outside its fold. Rendered
    here as one HTML block with no blank line, it stays inside.
    """
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    def fold(match: re.Match) -> str:
        body = markdown2html_mistune(match.group(2).strip())
        body = re.sub(r"\n\s*\n", "\n", body).strip()
        return f"<details><summary>{match.group(1).strip()}</summary>\n{body}\n</details>"

    for cell in nb.cells:
        if cell.cell_type == "markdown" and "<details>" in cell.source:
            cell.source = _DETAILS.sub(fold, cell.source)


def placeholders_to_mathml(body: str, formulas: list[str]) -> str:
    return _TOKEN_PATTERN.sub(lambda m: formulas[int(m.group(1))], body)


def export_reports(notebook: Path, target: Path, title: str, resources_dir: Path) -> tuple[Path, Path]:
    """Clean the executed notebook in place, then write ``target`` (full) and its reader's version."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    if clean_notebook(nb):
        nbformat.write(nb, notebook)
    # The Colab setup cell installs nothing outside Colab; a report reader has no use for it.
    nb.cells = [cell for cell in nb.cells if not is_setup_cell(cell)]
    formulas = math_to_placeholders(nb)
    fold_details(nb)
    resources = {"metadata": {"name": title, "path": str(resources_dir)}}
    reader = target.with_name(target.name.removesuffix(".html") + READER_SUFFIX)
    for path, hide_code in ((target, False), (reader, True)):
        exporter = HTMLExporter(
            template_name="advlab", extra_template_basedirs=[str(TEMPLATES)], embed_images=True,
            exclude_input=hide_code, exclude_input_prompt=hide_code, exclude_output_prompt=hide_code,
        )
        body, _ = exporter.from_notebook_node(nb, resources=dict(resources))
        path.write_text(placeholders_to_mathml(body, formulas), encoding="utf-8")
    return target, reader
