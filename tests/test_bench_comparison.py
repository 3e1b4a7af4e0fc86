"""``advlab bench``'s torchattacks comparison: said in one line when missing, installed without its stale pins."""
from __future__ import annotations

import subprocess

from helpers.runner import bench


def test_missing_comparison_is_one_line_naming_the_command():
    line = bench.missing_line()
    assert "\n" not in line and "torchattacks" in line and "advlab bench --install-comparison" in line


def test_install_checks_the_imports_first_and_installs_nothing_when_one_is_missing(capsys):
    calls = []
    rc = bench.install_comparison(run=lambda *a, **k: calls.append(a), find_spec=lambda name: None if name == "scipy" else object())
    assert rc == 1 and calls == []
    assert "scipy" in capsys.readouterr().err


def test_install_uses_no_deps_and_checks_the_import(capsys):
    calls = []

    def fake_run(command, **kw):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="3.5.1\n", stderr="")

    assert bench.install_comparison(python="/py", run=fake_run, find_spec=lambda name: object()) == 0
    assert calls[0] == ["/py", "-m", "pip", "install", "--quiet", "--no-deps", bench.TORCHATTACKS]
    assert calls[1][:2] == ["/py", "-c"] and "import torchattacks" in calls[1][2]
    assert "torchattacks 3.5.1 installed" in capsys.readouterr().out


def test_the_modules_torchattacks_imports_are_dependencies_of_advlab():
    """What ``--no-deps`` relies on: every module torchattacks imports at import time comes with advlab."""
    import tomllib

    from helpers import paths

    project = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = {r.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip().lower() for r in project["dependencies"]}
    for module in bench.TORCHATTACKS_IMPORTS:
        assert module in names, module
