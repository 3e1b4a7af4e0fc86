"""The ``advlab`` command.

    advlab list                                   studies, titles and presets
    advlab run STUDY [--preset P] [-p k=v] ...    run studies (all options of python -m helpers.run,
                                                  sweeps included: --seeds, --sweep, --scheduler)
    advlab bench [--install-comparison]           PGD, training and sweep throughput on this machine
                                                  (--install-comparison: add torchattacks' column first)
    advlab gpu-check                              on a CUDA machine: both frameworks' GPUs, every smoke
                                                  preset with device=cuda, GPU throughput (reports/gpu-check/)
    advlab lab                                    JupyterLab on the notebooks
    advlab notebooks DIR [--with-outputs]         copy the notebooks and presets to DIR to run and edit;
                                                  --with-outputs: the executed notebooks of the last runs
    advlab runtimes [--update README.md]          the runtime table from the reports' run.json files
    advlab fetch [STUDY ...] [--preset P]         download the data the studies need, then run offline
    advlab colab [--update [README.md]]           the Open-in-Colab badges; --update rewrites the
                                                  notebooks' Colab setup cells and the README's badges
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from helpers import paths

COMMANDS = ("list", "run", "bench", "gpu-check", "lab", "notebooks", "runtimes", "fetch", "colab")


def copy_notebooks(target: Path) -> list[Path]:
    """Copy every study notebook and its presets into ``target``; existing files are not overwritten."""
    source = paths.notebooks_dir()
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(source.glob("*.ipynb")) + sorted((source / "presets").glob("*/*.yaml")):
        destination = target / path.relative_to(source)
        if destination.exists():
            print(f"kept {destination} (already there)")
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        copied.append(destination)
    return copied


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "list":
        from helpers.runner.run import main as run_main

        return run_main(["--list", *rest])
    if command == "run":
        from helpers.runner.run import main as run_main

        return run_main(rest)
    if command == "bench":
        from helpers.paths import DataCorruptError, DataMissingError
        from helpers.runner.bench import main as bench_main

        try:
            return bench_main(rest)
        except (DataMissingError, DataCorruptError) as exc:
            print(f"advlab bench: {exc}", file=sys.stderr)
            return 1
    if command == "gpu-check":
        from helpers.runner.gpu_check import main as gpu_check_main

        return gpu_check_main(rest)
    if command == "runtimes":
        from helpers.runner.runtimes import main as runtimes_main

        return runtimes_main(rest)
    if command == "fetch":
        from helpers.runner.fetch import main as fetch_main

        return fetch_main(rest)
    if command == "colab":
        from helpers.runner.colab import main as colab_main

        return colab_main(rest)
    if command == "notebooks":
        with_outputs = "--with-outputs" in rest
        rest = [a for a in rest if a != "--with-outputs"]
        if len(rest) != 1:
            print("usage: advlab notebooks DIR [--with-outputs]", file=sys.stderr)
            return 2
        target = Path(rest[0]).expanduser().resolve()
        if with_outputs:
            from helpers.runner.handout import hand_out

            try:
                handed = hand_out(target)
            except OSError as exc:
                print(f"advlab notebooks: cannot write to {target}: {exc.strerror or exc}", file=sys.stderr)
                return 1
            for note in handed.notes:
                print(note)
            print(f"{len(handed.copied)} files copied to {target}, notebooks with the outputs of their last run.")
            return 0
        try:
            copied = copy_notebooks(target)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(target) else ""
            print(f"advlab notebooks: cannot copy the notebooks into {target}: {exc.strerror or exc}{where}",
                  file=sys.stderr)
            return 1
        print(f"{len(copied)} files copied to {target}. Open them with `advlab lab {rest[0]}`, or run them in batch "
              f"with `ADVLAB_NOTEBOOKS={target} advlab run STUDY`.")
        return 0
    if command == "lab":
        folder = Path(rest[0]) if rest else paths.notebooks_dir() if paths.in_checkout() else Path.cwd()
        return subprocess.call([sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={folder}", *rest[1:]])
    print(f"advlab: unknown command {command!r}; valid: {', '.join(COMMANDS)} (advlab --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
