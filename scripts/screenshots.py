#!/usr/bin/env python3
"""Screenshots of each page of the master's web UI, for README.md and docs/ui.md.

Starts a small local cluster (one master, three agents, the ``services`` framework), runs a
few tasks with ``corral run`` (long-running, finished, failed), lets the dashboard sample a
few seconds of history, then drives headless Chromium (/usr/bin/chromium through
Playwright) over every page and saves small PNGs into docs/screenshots/.

    python scripts/screenshots.py              # writes docs/screenshots/*.png
    python scripts/screenshots.py --out /tmp/shots

Everything it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from corral.testing import LocalCluster, free_port, http_json, wait_until

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
TICKER = (
    f"{sys.executable} -u -c 'import itertools, time\n"
    'for i in itertools.count(): print(f"serving request {i}"); time.sleep(0.5)\''
)


def corral_run(c: LocalCluster, *args: str, check: bool = True) -> None:
    env = {**os.environ, "CORRAL_MASTER": c.master}
    p = subprocess.run(
        [sys.executable, "-m", "corral", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    if check and p.returncode != 0:
        raise SystemExit(f"corral run {' '.join(args)} failed:\n{p.stdout}{p.stderr}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    p.add_argument("--width", type=int, default=1100)
    p.add_argument("--height", type=int, default=700)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    os.environ["CORRAL_UI_SAMPLE_SECS"] = "1"
    with LocalCluster(
        3,
        agent_attributes=["rack:r1;zone:a", "rack:r2;zone:a", "rack:r3;zone:b"],
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
    ) as c:
        c.start_framework("services", free_port())
        corral_run(c, "--detach", "--count", "4", "--name", "web", "--cpus", "0.5",
                   "--mem", "256", "--", TICKER)  # fmt: skip
        corral_run(c, "--name", "report", "--", "echo report done")
        corral_run(c, "--name", "migrate", "--", "echo 'no such table' >&2; exit 2", check=False)
        t0 = time.time()
        wait_until(lambda: len(http_json(f"{c.url}/ui/api/history")["time"]) >= 12, 60)
        base = f"http://{c.master}"
        task = http_json(f"{base}/ui/api/tasks?state=TASK_RUNNING&limit=1")["tasks"][0]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": args.width, "height": args.height})

            def shot(name: str, fragment: str, ready: str) -> None:
                page.goto(f"{base}/#{fragment}")
                page.wait_for_selector(ready)
                page.wait_for_timeout(600)  # one more refresh, so the numbers are settled
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"{path} {path.stat().st_size // 1024} KB")

            shot("dashboard", "/", "#charts svg polyline")
            shot("agents", "/agents", "#agents-table tbody tr")
            shot("agent", f"/agents/{task['agent_id']}", "#containers tbody tr")
            shot("frameworks", "/frameworks", "#frameworks-table tbody tr")
            shot("tasks", "/tasks", "#tasks-table tbody tr")
            page.goto(f"{base}/#/tasks/{task['framework_id']}/{task['id']}")
            page.wait_for_function(
                "(document.querySelector('#file-view')?.textContent || '').includes('serving')"
            )
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / "task.png"), full_page=True)
            print(out / "task.png")
            shot("offers", "/offers", "#offers-total")
            page.goto(f"{base}/#/events")
            page.wait_for_selector("#events-table tr[data-type=SUBSCRIBED]")
            corral_run(c, "--name", "hello", "--", "echo hello")
            page.wait_for_selector("#events-table tr[data-type=TASK_UPDATED]")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "events.png"))
            print(out / "events.png")
            browser.close()
        print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
