"""The notebooks run top to bottom against real services (CI executes them)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run(name: str, env: dict[str, str], timeout: int = 240) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
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
