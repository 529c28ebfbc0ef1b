"""The notebooks run top to bottom against real services, the way a user runs them
(`jupyter nbconvert --to notebook --execute`), and cleanly: no error, nothing on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NO_IPYWIDGETS = "IProgress not found"  # tqdm.auto's warning when ipywidgets is missing


def run(name: str, env: dict[str, str], timeout: int = 240) -> nbformat.NotebookNode:
    """Execute a notebook with nbconvert (what `jupyter nbconvert` runs) in a kernel that sees
    `env`; fail on an error, on anything written to stderr, or on tqdm missing ipywidgets."""
    done = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--stdout",
         f"--ExecutePreprocessor.timeout={timeout}", str(NOTEBOOKS / name)],
        env={**os.environ, **env}, cwd=NOTEBOOKS, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=timeout + 60,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    assert NO_IPYWIDGETS not in done.stderr and "Traceback" not in done.stderr, done.stderr
    nb = nbformat.reads(done.stdout, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{cell.source}\n{output}"
            assert not (output.output_type == "stream" and output.name == "stderr"), \
                f"stderr in a cell of {name}:\n{cell.source}\n---\n{output.text}"
    assert NO_IPYWIDGETS not in outputs(nb)
    return nb


def outputs(nb: nbformat.NotebookNode) -> str:
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))


def test_live_monitoring_notebook_shows_the_dashboard_inline_and_the_live_frame(redis_url, channel_prefix):
    nb = run("01_live_monitoring.ipynb", {"REDIS_URL": redis_url, "STREAMING_CHANNEL_PREFIX": channel_prefix})
    dash_cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("dash = LiveDashboard"))
    mimes = {m for o in dash_cell.outputs for m in o.get("data", {})}
    assert "application/vnd.holoviews_exec.v0+json" in mimes  # a live Panel view, not a static repr
    text = outputs(nb)
    assert " patterns, " in text and "pattern rows" in text
    assert "identity holds: True" in text


def test_history_analysis_notebook_runs_loaders_joins_statistics_and_plots(redis_url, channel_prefix,
                                                                           private_database_url):
    nb = run("02_history_analysis.ipynb", {"REDIS_URL": redis_url, "STREAMING_CHANNEL_PREFIX": channel_prefix,
                                           "DATABASE_URL": private_database_url})
    text = outputs(nb)
    assert "messages sent;" in text and "'patterns':" in text
    assert "base_rate" in text and "RSI.value" in text
    plots = [c for c in nb.cells if c.cell_type == "code" and "hv." in c.source and "extension" not in c.source]
    assert plots and all(any("application/vnd.holoviews_exec.v0+json" in o.get("data", {}) for o in c.outputs)
                         for c in plots)
    progress = next(c for c in nb.cells if c.cell_type == "code" and "progress=True" in c.source)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in progress.outputs)
