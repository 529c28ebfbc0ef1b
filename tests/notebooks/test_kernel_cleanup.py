"""A Jupyter kernel that starts the embedded servers leaves no server and no folder behind, whether
it is shut down, killed, or runs a notebook that fails."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.fixtures.leaks import Trace

ROOT = Path(__file__).resolve().parents[2]

START_SERVERS = """\
from dashboard.services.embedded import EmbeddedPostgres, EmbeddedRedis
redis_server = EmbeddedRedis()
redis_server.start()
postgres = EmbeddedPostgres()
postgres.start()
"""


@pytest.fixture
def kernel() -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT), startup_timeout=60)
    yield manager, client
    client.stop_channels()
    if manager.has_kernel:
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("how", ["shutdown", "shutdown now", "SIGKILL"])
def test_a_kernel_shut_down_or_killed_leaves_no_server_and_no_folder(kernel, how: str) -> None:
    manager, client = kernel
    reply = client.execute_interactive(START_SERVERS, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    trace = Trace.of(manager.provisioner.pid)
    assert len(trace.folders) == 2 and {"redis-server", "postgres"} <= trace.names
    started = time.monotonic()
    if how == "shutdown":  # a shutdown request: the kernel exits by itself and runs atexit
        process = manager.provisioner.process
        manager.shutdown_kernel()
        assert process.returncode == 0 and not trace.left()
    elif how == "shutdown now":  # the kernel manager kills the kernel's process group
        manager.shutdown_kernel(now=True)
        trace.assert_nothing_left()
    else:
        os.kill(manager.provisioner.pid, signal.SIGKILL)
        trace.assert_nothing_left()
    print(f"{how}: nothing left {time.monotonic() - started:.2f} s later")


def test_a_failing_notebook_run_by_nbclient_leaves_no_server_and_no_folder() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(START_SERVERS),
                                         nbformat.v4.new_code_cell("raise RuntimeError('the notebook fails')")])
    traces: list[Trace] = []
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}},
                            on_cell_error=lambda **_: traces.append(Trace.of(client.km.provisioner.pid)))
    with pytest.raises(CellExecutionError, match="the notebook fails"):
        client.execute()
    (trace,) = traces
    assert len(trace.folders) == 2 and {"redis-server", "postgres"} <= trace.names
    trace.assert_nothing_left()
