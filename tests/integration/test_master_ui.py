"""The master's web UI in headless Chromium against a real cluster: each page's numbers, the
server-paged Tasks page, a task's stdout tailed live in the sandbox viewer, the operator event
feed, and an agent killed mid-test shown as unreachable. One cluster and one page for the
module; every test also asserts the page raised no script error and logged no console
error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from browser import browser_page
from corral.testing import LocalCluster, http_json, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# One process (no `sleep` children: the leak check of every test would see them come and go).
TICKER = (
    f"{sys.executable} -u -c 'import itertools, time\n"
    'for i in itertools.count(): print(f"tick-{i}"); time.sleep(0.3)\''
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    old = os.environ.get("CORRAL_UI_SAMPLE_SECS")
    os.environ["CORRAL_UI_SAMPLE_SECS"] = "0.5"  # the dashboard's history fills quickly
    try:
        with LocalCluster(
            2,
            agent_attributes=["rack:r1;zone:a", "rack:r2;zone:b"],
            master_flags=["--agent-ping-timeout", "0.5", "--max-agent-ping-timeouts", "2"],
        ) as c:
            run(c, "--detach", "--count", "3", "--name", "ticker", "--", TICKER)
            run(c, "--name", "oneshot", "--", "echo finished-ok")
            yield c
    finally:
        if old is None:
            os.environ.pop("CORRAL_UI_SAMPLE_SECS", None)
        else:
            os.environ["CORRAL_UI_SAMPLE_SECS"] = old


def run(c: LocalCluster, *args: str) -> str:
    env = {**os.environ, "CORRAL_MASTER": c.master}
    p = subprocess.run(
        [sys.executable, "-m", "corral", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


class Page:
    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

    def go(self, fragment: str) -> Any:
        self.page.goto(f"{self.base}/#{fragment}")
        return self.page

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text())

    def wait_text(self, selector: str, want: str, timeout: float = 15_000) -> None:
        self.page.wait_for_function(
            "([s, w]) => { const e = document.querySelector(s);"
            " return e && e.textContent.trim() === w; }",
            arg=[selector, want],
            timeout=timeout,
        )

    def assert_clean(self) -> None:
        assert self.errors == []


@pytest.fixture(scope="module")
def ui(cluster: LocalCluster) -> Iterator[Page]:
    with browser_page() as page:
        yield Page(page, f"http://{cluster.master}")


def api(cluster: LocalCluster, path: str) -> Any:
    return http_json(f"http://{cluster.master}{path}")


def running_tasks(cluster: LocalCluster) -> list[dict[str, Any]]:
    return list(api(cluster, "/ui/api/tasks?state=TASK_RUNNING")["tasks"])


def test_dashboard_shows_totals_tasks_agents_and_history(cluster: LocalCluster, ui: Page) -> None:
    page = ui.go("/")
    ui.wait_text("#res-cpus-total", "8")
    ui.wait_text("#tasks-TASK_RUNNING", "3")
    ui.wait_text("#tasks-TASK_FINISHED", "1")
    ui.wait_text("#agents-active", "2")
    ui.wait_text("#agents-unreachable", "0")
    d = api(cluster, "/ui/api/dashboard")
    assert d["resources"]["cpus"]["used"] == pytest.approx(0.3)
    ui.wait_text("#res-cpus-used", "0.3")
    ui.wait_text("#res-mem-total", "8 GB")
    assert ui.text("#leader") == cluster.master
    assert ui.text("#zookeeper") == "no ZooKeeper (single master)"
    # the charts draw the sampled history: several points within a few seconds
    page.wait_for_function(
        "() => [...document.querySelectorAll('#charts svg')].every(s => +s.dataset.points >= 3)"
    )
    assert page.locator("#charts svg polyline").count() == 6
    hist = api(cluster, "/ui/api/history")
    assert hist["tasks_running"][-1] == 3 and hist["cpus_total"][-1] == 8
    ui.assert_clean()


def test_tasks_page_filters_and_pages_on_the_server(cluster: LocalCluster, ui: Page) -> None:
    page = ui.go("/tasks?state=TASK_RUNNING")
    page.wait_for_function("document.querySelectorAll('#tasks-table tbody tr').length === 3")
    assert ui.text(".pager .count") == "1\u20133 of 3"
    page.fill("#f-name", "oneshot")
    page.select_option("#f-state", "")
    page.wait_for_function("document.querySelectorAll('#tasks-table tbody tr').length === 1")
    assert "TASK_FINISHED" in ui.text("#tasks-table tbody tr")
    # the data call pages and filters: never more than a page of rows
    two = api(cluster, "/ui/api/tasks?limit=2")
    assert (two["total"], len(two["tasks"])) == (4, 2)
    rest = api(cluster, "/ui/api/tasks?limit=2&offset=2")
    assert len(rest["tasks"]) == 2
    assert {t["id"] for t in two["tasks"] + rest["tasks"]} == {
        t["id"] for t in api(cluster, "/ui/api/tasks")["tasks"]
    }
    agent = running_tasks(cluster)[0]["agent_id"]
    on_agent = api(cluster, f"/ui/api/tasks?agent={agent}&state=active")
    assert on_agent["total"] >= 1 and all(t["agent_id"] == agent for t in on_agent["tasks"])
    with pytest.raises(urllib.error.HTTPError) as bad:
        api(cluster, "/ui/api/tasks?limit=100000")
    assert bad.value.code == 400 and "limit" in bad.value.read().decode()
    ui.assert_clean()


def test_task_page_history_and_live_stdout(cluster: LocalCluster, ui: Page) -> None:
    t = running_tasks(cluster)[0]
    page = ui.go(f"/tasks/{t['framework_id']}/{t['id']}")
    ui.wait_text("#task-state", "TASK_RUNNING")
    states = page.eval_on_selector_all(
        "#statuses tbody tr td:nth-child(2)", "es => es.map(e => e.textContent)"
    )
    assert states[:2] == ["TASK_RUNNING", "TASK_STARTING"]
    page.wait_for_function(
        "(document.querySelector('#file-view')?.textContent || '').includes('tick-')"
    )
    assert page.locator("#files a[data-file=stdout]").count() == 1

    def last_tick() -> int:
        found = re.findall(r"tick-(\d+)", ui.text("#file-view"))
        return int(found[-1]) if found else -1

    first = last_tick()
    wait_until(lambda: last_tick() >= first + 3, 15, what="new stdout lines in the viewer")
    # download through the master's proxy of the agent's files
    href = page.locator("#file-title a").get_attribute("href")
    with urllib.request.urlopen(f"http://{cluster.master}{href}") as r:
        assert b"tick-0\n" in r.read()
    ui.assert_clean()


def test_agents_page_and_an_agents_containers(cluster: LocalCluster, ui: Page) -> None:
    page = ui.go("/agents")
    page.wait_for_function("document.querySelectorAll('#agents-table tbody tr').length === 2")
    body = ui.text("#agents-table")
    assert "rack=r1" in body and "rack=r2" in body
    t = running_tasks(cluster)[0]
    page = ui.go(f"/agents/{t['agent_id']}")
    ui.wait_text("#agent-status", "active")
    page.wait_for_selector("#containers tbody tr")
    containers = ui.text("#containers")
    assert t["id"] in containers
    assert t["id"] in ui.text("#tasks-table")
    ui.assert_clean()


def test_frameworks_and_offers(cluster: LocalCluster, ui: Page) -> None:
    page = ui.go("/frameworks")
    page.wait_for_selector("#frameworks-table tbody tr")
    assert "ticker" in ui.text("#frameworks-table")
    page.wait_for_selector("#completed-frameworks-table tbody tr")
    assert "oneshot" in ui.text("#completed-frameworks-table")
    ui.go("/offers")
    page.wait_for_selector("#offers-total")
    assert int(ui.text("#offers-total")) == api(cluster, "/ui/api/offers")["total"]
    ui.assert_clean()


def test_events_page_receives_the_operator_stream(cluster: LocalCluster, ui: Page) -> None:
    page = ui.go("/events")
    page.wait_for_selector("#events-table tr[data-type=SUBSCRIBED]")
    run(cluster, "--name", "eventful", "--", "true")
    page.wait_for_selector("#events-table tr[data-type=TASK_ADDED]")
    page.wait_for_function(
        "[...document.querySelectorAll('#events-table tr[data-type=TASK_UPDATED]')]"
        ".some(r => r.textContent.includes('TASK_FINISHED'))"
    )
    ui.assert_clean()


def test_a_killed_agent_shows_unreachable(cluster: LocalCluster, ui: Page) -> None:
    page = ui.go("/")
    ui.wait_text("#agents-active", "2")
    victim = cluster.agents[1]
    cluster.kill_agent(victim)
    ui.wait_text("#agents-unreachable", "1", timeout=20_000)
    ui.wait_text("#agents-active", "1")
    ui.go("/agents")
    page.wait_for_function(
        "[...document.querySelectorAll('#agents-table tbody tr')].some("
        "r => r.textContent.includes('unreachable'))"
    )
    assert api(cluster, "/ui/api/agents")["total"] == 2
    ui.assert_clean()


def test_standby_pages_redirect_and_assets_are_served(cluster: LocalCluster) -> None:
    # (the standby's 307 is tested in tests/unit/test_master_ui_views.py; here: the leader's)
    with urllib.request.urlopen(f"http://{cluster.master}/ui/static/app.js") as r:
        assert r.headers["Content-Type"].startswith("text/javascript")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{cluster.master}/ui/static/nope.js")
    assert e.value.code == 404
    assert "nope.js" in e.value.read().decode()


RECORDIO_JS = """() => {
  const enc = new TextEncoder(), got = [];
  const rec = (o) => {
    const j = JSON.stringify(o);
    return [...enc.encode(enc.encode(j).length + "\\n" + j)];
  };
  const old = RecordIO.BIG; RecordIO.BIG = 100;
  try {
    const r = new RecordIO((x) => got.push(x));
    const all = new Uint8Array([
      ...rec({type: "A"}), ...rec({type: "SUBSCRIBED", pad: "x".repeat(500)}),
      ...rec({type: "B", v: "\\u00e9"}), ...rec({type: "C"})]);
    for (let i = 0; i < all.length; i += 7) r.push(all.subarray(i, i + 7));
  } finally { RecordIO.BIG = old; }
  return got;
}"""


def test_the_event_reader_splits_records_and_skips_a_huge_snapshot(ui: Page) -> None:
    # A 100,000-task cluster's SUBSCRIBED snapshot is tens of MB: the page reports its size
    # instead of parsing it, and reads the records after it (fed here in 7-byte chunks).
    page = ui.go("/")
    got = page.evaluate(RECORDIO_JS)
    assert got == [
        {"type": "A"},
        {"type": "SUBSCRIBED", "too_big": len('{"type":"SUBSCRIBED","pad":""}') + 500},
        {"type": "B", "v": "\u00e9"},
        {"type": "C"},
    ]
    ui.assert_clean()
