"""What embedded servers a process (a script, a kernel) started, and proof that none is left.

Seen from outside, with psutil only: the process's watchdogs are its children running
dashboard/watchdog.py, each naming its server's folder on its command line; the server's
processes are those naming that folder on their command line or working in it, and their children.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

import psutil

from dashboard import watchdog
from dashboard.services import STOP_TIMEOUT_S
from tests.helpers import wait_for

CLEANUP_TIMEOUT_S = 2 * STOP_TIMEOUT_S + 10  # polite stop, then SIGKILL, then the folder


def alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (an orphan's exit its new parent has not reaped yet)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def watchdogs(owner_pid: int) -> list[psutil.Process]:
    """The owner's service watchdogs, one per embedded server it runs."""
    found = []
    for child in psutil.Process(owner_pid).children():
        with contextlib.suppress(psutil.Error):
            if watchdog.__file__ in child.cmdline() and alive(child):
                found.append(child)
    return found


def processes_in(folder: str) -> list[psutil.Process]:
    """Live processes naming `folder` (or a path in it) on their command line or working in it."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            named = any(arg == folder or arg.startswith(folder + os.sep) for arg in proc.cmdline())
            if alive(proc) and (named or (proc.cwd() + os.sep).startswith(folder + os.sep)):
                found[proc.pid] = proc
                found.update((child.pid, child) for child in proc.children(recursive=True))
    return [proc for proc in found.values() if alive(proc)]


@dataclass
class Trace:
    """An owner's embedded servers at one moment: their folders, every process of theirs, and
    those processes' program names."""

    folders: list[str]
    processes: list[psutil.Process]
    names: set[str]

    @classmethod
    def of(cls, owner_pid: int) -> Trace:
        dogs = watchdogs(owner_pid)
        folders = [json.loads(dog.cmdline()[-1])["folder"] for dog in dogs]
        processes = dogs + [proc for folder in folders for proc in processes_in(folder)]
        names = set()
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                names.add(proc.name())
        return cls(folders, processes, names)

    def left(self) -> list[str]:
        """What is still there: live processes, folders, and processes that appeared in a folder."""
        procs = {proc.pid: proc for proc in self.processes if alive(proc)}
        procs.update((proc.pid, proc) for folder in self.folders for proc in processes_in(folder))
        described = []
        for proc in procs.values():
            with contextlib.suppress(psutil.Error):
                described.append(f"pid {proc.pid} {' '.join(proc.cmdline())[:120]}")
        return described + [f"folder {folder}" for folder in self.folders if os.path.exists(folder)]

    def assert_nothing_left(self, timeout: float = CLEANUP_TIMEOUT_S) -> None:
        try:
            wait_for(lambda: not self.left(), timeout=timeout, interval=0.05)
        except AssertionError:
            raise AssertionError(f"left behind after {timeout} s: {self.left()}") from None
