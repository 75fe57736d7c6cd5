"""The services page in headless Chromium against a real cluster and a real `corral services`.

Create an app from the page's editor, see its instances run and pass their health check,
scale it, see why a deployment that cannot finish waits, roll it back, restart, delete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from services_proc import remove_all_apps, services_process

from browser import browser_page
from corral.testing import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.browser]

WEB = {
    "id": "/page/web",
    "cmd": "sleep 300",
    "cpus": 0.1,
    "mem": 16,
    "instances": 2,
    "healthChecks": [
        {
            "protocol": "COMMAND",
            "command": {"value": "true"},
            "gracePeriodSeconds": 5,
            "intervalSeconds": 1,
            "timeoutSeconds": 2,
            "delaySeconds": 0,
        }
    ],
}
ALL_REPLACED = """(before) => {
  const rows = document.querySelectorAll('#instances tbody tr[data-task]');
  const ids = [...rows].map(r => r.dataset.task);
  return ids.length === 3 && ids.every(i => !before.includes(i));
}"""
BIG = {"id": "/page/big", "cmd": "sleep 300", "cpus": 64, "mem": 16}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("services-page")
    with (
        LocalCluster(
            1,
            work_dir=tmp / "cluster",
            agent_resources="cpus:2;mem:2048;disk:1000;ports:[31000-31100]",
        ) as c,
        services_process(c, tmp / "services") as url,
    ):
        yield url


@pytest.fixture(autouse=True)
def no_app_left(services: str) -> Iterator[None]:
    yield
    remove_all_apps(services)


def counts(page: object, text: str) -> str:
    return f"document.querySelector('#detail-counts').textContent.startsWith({json.dumps(text)})"


def submit(page: object, doc: dict[str, object]) -> None:
    page.click("#new-app")  # type: ignore[attr-defined]
    page.fill("#editor-text", json.dumps(doc))  # type: ignore[attr-defined]
    page.click("#editor-submit")  # type: ignore[attr-defined]


def test_create_scale_stuck_restart_delete_from_the_page(services: str) -> None:
    with browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(services + "/")
        page.wait_for_selector("#conn.live, #conn.poll")

        # A bad field: the editor stays open and names it.
        submit(page, {**WEB, "cpus": "lots"})
        page.wait_for_selector("#editor-errors:not([hidden])")
        assert "/cpus" in page.inner_text("#editor-errors")

        page.fill("#editor-text", json.dumps(WEB))
        page.click("#editor-submit")
        page.wait_for_selector("#detail:not([hidden])")
        assert page.inner_text("#detail-id") == "/page/web"
        page.wait_for_function(counts(page, "2/2 running · 2 healthy"), timeout=30_000)
        assert page.locator("#instances tbody tr[data-task]").count() == 2
        assert page.locator("#instances .health .badge.running").count() == 2
        assert page.locator("#apps tbody tr[data-app='/page/web'] .badge.running").count() == 1

        page.fill("#scale-n", "3")
        page.click("#scale-btn")
        page.wait_for_function(counts(page, "3/3 running · 3 healthy"), timeout=30_000)

        # More cpus than any agent has: the deployment waits, and the page says why.
        submit(page, BIG)
        page.wait_for_selector("#editor", state="hidden")
        dep = page.locator("#deployments .deployment", has_text="/page/big")
        dep.locator(".reason").first.wait_for()
        assert dep.locator(".reason").first.inner_text().strip()
        assert page.locator("#detail-why .reason").count() >= 1
        # A change in its way is refused with the deployment named.
        page.fill("#scale-n", "2")
        page.click("#scale-btn")
        page.wait_for_selector("#error:not([hidden])")
        assert "Deployment(s) in the way" in page.inner_text("#error")
        # Roll it back: the app it was creating goes away.
        dep.locator(".cancel-dep").click()
        page.wait_for_selector("#deployments .deployment", state="detached", timeout=20_000)
        page.fill("#filter", "/page/")
        page.wait_for_selector(
            "#apps tbody tr[data-app='/page/big']", state="detached", timeout=20_000
        )

        page.click("#apps tbody tr[data-app='/page/web']")
        page.wait_for_function(counts(page, "3/3"))
        before = set(
            page.locator("#instances tbody tr[data-task]").evaluate_all(
                "rows => rows.map(r => r.dataset.task)"
            )
        )
        versions = page.locator("#versions li").count()
        page.click("#restart-btn")

        def replaced() -> bool:
            ids = set(
                page.locator("#instances tbody tr[data-task]").evaluate_all(
                    "rows => rows.map(r => r.dataset.task)"
                )
            )
            return len(ids) == 3 and not ids & before

        page.wait_for_function(counts(page, "3/3 running · 3 healthy"), timeout=30_000)
        page.wait_for_function(ALL_REPLACED, arg=sorted(before), timeout=30_000)
        assert replaced()
        page.wait_for_function(f"document.querySelectorAll('#versions li').length > {versions}")

        page.wait_for_selector("#deployments .deployment", state="detached", timeout=20_000)
        page.click("#delete-btn")
        page.click("#delete-btn")
        try:
            page.wait_for_selector("#detail", state="hidden")
        except Exception:
            raise AssertionError(
                f"still shown; error: {page.inner_text('#error')!r}, "
                f"button: {page.inner_text('#delete-btn')!r}, "
                f"counts: {page.inner_text('#detail-counts')!r}"
            ) from None
        assert page.locator("#error").is_hidden(), page.inner_text("#error")
        page.wait_for_selector(
            "#apps tbody tr[data-app='/page/web']", state="detached", timeout=20_000
        )
        assert not errors, errors
