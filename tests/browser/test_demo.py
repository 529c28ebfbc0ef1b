"""`tickstock demo` on a machine with nothing configured: starts, shows simulated data, stops clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
from playwright.sync_api import expect

from tests.fixtures import free_port, open_page


def test_demo_starts_shows_simulated_data_and_stops_without_leftovers(browser, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.tools.cli", "demo", "--port", str(port), "--rate", "40",
                             "--health-interval", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "demo exited early:\n" + "".join(lines)
            lines.append(line)
            if "TickStock Live demo at" in line:
                break
        url = lines[-1].split(" at ", 1)[1].split()[0]
        assert url == f"http://127.0.0.1:{port}/streaming"
        pg_port = next(x for x in lines if x.strip().startswith("PostgreSQL")).rsplit(":", 1)[1].split("/")[0]
        services = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() == "redis-server"]
        services += [p for p in psutil.process_iter(["name", "cmdline"])  # pg_ctl detaches the postmaster
                     if p.info["name"] == "postgres" and pg_port in " ".join(p.info["cmdline"] or [])]
        assert {p.name() for p in services} == {"redis-server", "postgres"}

        page = open_page(browser, url)
        expect(page.locator("[data-status]")).to_have_text("active", timeout=20_000)
        expect(page.locator("tr", has_text="0.").nth(3)).to_be_visible(timeout=20_000)  # pattern rows
        expect(page.locator("text=healthy").first).to_be_visible(timeout=20_000)
        page.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopped" in out
    gone = psutil.wait_procs(services, timeout=10)[1]
    assert not gone, f"left running: {gone}"
