"""The watchdog of one embedded server: when the Python process that started the server dies
without stopping it (SIGKILL, os._exit, a crash, a killed kernel), stop it and remove its folder.

services.py starts one per server, before the server, as `python -P watchdog.py CONFIG`, in a
session of its own (a terminal's Ctrl-C or a kernel manager's kill of the process group spares it)
and with the read end of a pipe as stdin. The parent writes `release` once it has stopped the
server itself. End of file without it (the parent died and the kernel closed its end), or a parent
pid that is no longer the one given (a forked copy of the parent may still hold the pipe), means
the server was left behind: its processes are found by program name and folder, asked to stop,
killed after a timeout, and a temp folder is removed. A script: the standard library and psutil.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil

RELEASE = b"release\n"  # what the parent writes after a clean stop
PARENT_POLL_S = 1.0  # s between checks that the parent is still the one given
CHECK_INTERVAL_S = 0.02  # s between checks that a stopped process is gone


def released(parent: int) -> bool:
    """Block until the parent releases us (True) or dies (False)."""
    fd, received = sys.stdin.fileno(), b""
    while os.getppid() == parent:
        ready, _, _ = select.select([fd], [], [], PARENT_POLL_S)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        received += chunk
        if RELEASE in received:
            return True
    return False


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _belongs(proc: psutil.Process, folder: str, names: set[str]) -> bool:
    """One of the server's programs, naming the folder on its command line or working in it."""
    try:
        if proc.name() not in names or not _alive(proc):
            return False
        if any(arg == folder or arg.startswith(folder + os.sep) for arg in proc.cmdline()):
            return True
        return Path(proc.cwd()).is_relative_to(folder)  # redis-server rewrites its command line
    except (psutil.Error, OSError):
        return False


def leftovers(folder: str, names: set[str]) -> list[psutil.Process]:
    """The server's processes still alive, and everything they started."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        if _belongs(proc, folder, names):
            found[proc.pid] = proc
            with contextlib.suppress(psutil.Error):
                found.update((child.pid, child) for child in proc.children(recursive=True))
    return [proc for proc in found.values() if _alive(proc)]


def _wait_gone(procs: list[psutil.Process], deadline: float) -> None:
    while any(map(_alive, procs)) and time.monotonic() < deadline:
        time.sleep(CHECK_INTERVAL_S)


def stop_leftovers(folder: str, signals: dict[str, str], timeout: float) -> None:
    """Send each top process the server left its program's polite signal (the postmaster, not its
    backends), again for any that appear meanwhile (a pg_ctl was still starting one); then SIGKILL
    whatever is left."""
    names, deadline = set(signals), time.monotonic() + timeout
    while (procs := leftovers(folder, names)) and time.monotonic() < deadline:
        pids = {proc.pid for proc in procs}
        tops = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if proc.ppid() not in pids:
                    proc.send_signal(signal.Signals[signals.get(proc.name(), "SIGTERM")])
                    tops.append(proc)
        if not tops:
            break
        _wait_gone(tops, deadline)
    procs = leftovers(folder, names)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(procs, time.monotonic() + timeout)


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    if released(config["parent"]):
        return 0
    stop_leftovers(config["folder"], config["signals"], config["stop_timeout"])
    if config["remove"]:
        shutil.rmtree(config["folder"], ignore_errors=True)
    if leftovers(config["folder"], set(config["signals"])) or (config["remove"] and os.path.exists(config["folder"])):
        print(f"tickstock watchdog: could not clean up {config['folder']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
