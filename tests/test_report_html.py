"""What the HTML reports keep out of a reader's way, and the progress relay to the runner's terminal."""
from __future__ import annotations

import io
import time

import nbformat

from helpers.progress import STAGE_MARK
from helpers.runner.html import clean_notebook, clean_stderr
from helpers.runner.relay import ProgressRelay

TQDM = "\rtraining:   0%|          | 0/8 [00:00<?, ?batch/s]\rtraining:  50%|#####     | 4/8 [00:01<00:01, 3.1batch/s]\r\n"
TF_LOG = "2026-11-30 13:00:00.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\n"
WARNING = "/x/art/attack.py:12: UserWarning: the attack found no adversarial example for 3 images\n"


def test_clean_stderr_drops_progress_and_framework_noise_but_keeps_real_warnings():
    assert clean_stderr(TQDM) == ""
    assert clean_stderr(TF_LOG) == ""
    assert clean_stderr("E0000 00:00:1796047946.621107   26515 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n") == ""
    assert clean_stderr("/t/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update\n"
                        "  from .autonotebook import tqdm as notebook_tqdm\n") == ""
    assert clean_stderr(TQDM + WARNING + TF_LOG).strip() == WARNING.strip()


def test_clean_notebook_removes_emptied_outputs_and_leaves_stdout_alone():
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=TQDM),
        nbformat.v4.new_output("stream", name="stdout", text="clean accuracy 98.1%\n"),
        nbformat.v4.new_output("stream", name="stderr", text=WARNING),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert clean_notebook(nb) == 1
    assert [o["name"] for o in cell.outputs] == ["stdout", "stderr"]
    assert clean_notebook(nb) == 0


def test_relay_keeps_stage_lines_in_a_log_and_everything_on_a_terminal():
    for live, expected in ((False, "    study: train\n"), (True, TQDM)):
        target = io.StringIO()
        with ProgressRelay(target, interval=0.01, live=live) as relay:
            with open(relay.path, "a", encoding="utf-8") as kernel:
                kernel.write(f"{STAGE_MARK}study: train\n" if not live else TQDM)
                kernel.write(TQDM if not live else "")
            time.sleep(0.05)
        written = target.getvalue()
        assert expected in written
        if not live:
            assert "%|" not in written
        assert not relay.path.exists()


def test_runtime_table_is_rebuilt_from_run_json_between_the_markers(tmp_path):
    import json

    from helpers.runner.runtimes import END, START, runtime_table, update

    (tmp_path / "reports" / "demo").mkdir(parents=True)
    (tmp_path / "reports" / "demo" / "run.json").write_text(json.dumps(
        {"number": "07", "status": "ok", "preset": "default", "wall_seconds": 125.0, "finished_at": "2026-11-30T10:00:00"}))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold table, 3 min\n{END}\nrest\n")
    update(readme, runtime_table(tmp_path / "reports"))
    text = readme.read_text()
    assert "| `07_demo` | default | ok | 2 min 05 s |" in text and "old table" not in text
    assert text.startswith("intro\n") and text.endswith("rest\n")
