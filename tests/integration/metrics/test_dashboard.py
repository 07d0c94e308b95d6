"""The dashboard in headless Chromium: log in with a token, change filters, read the charts.

Needs Debian's `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`);
skipped with that message where they are not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn

from shared.testing.ports import free_port
from tests.integration.metrics.conftest import Metrics
from tests.integration.metrics.history import march

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (CHROMIUM and DRIVER):
        pytest.skip("headless Chromium not installed: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="fc-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.asynccontextmanager
async def served(svc: Metrics) -> AsyncIterator[str]:
    """The app (its lifespan already run by the fixture) on a real port for the browser."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(svc.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def bars(driver: Any, chart: str) -> dict[str, int]:
    """The chart's bars, read in one script call (a redraw between calls would stale them)."""
    pairs = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' rect'))"
        ".map(r => [r.dataset.label, Number(r.dataset.value)])",
        f"#{chart}",
    )
    return {label: int(value) for label, value in pairs}


def wait_for(driver: Any, condition: Any, timeout: float = 20.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


async def test_dashboard_charts_follow_the_filters(svc: Metrics, browser: Any) -> None:
    h = march()
    await svc.publish(h.messages)
    await svc.settled()
    token = svc.staff("manager", dealerships=("d1", "d2"))["Authorization"].split()[1]
    marker = uuid.uuid4().hex

    def run(base: str) -> dict[str, Any]:
        d = browser
        d.get(f"{base}/dashboard?{marker}")
        d.find_element("id", "token").send_keys(token)
        d.find_element("id", "use-token").click()
        wait_for(d, lambda d: d.find_element("id", "status").text == "updated")
        assert d.execute_script("return sessionStorage.getItem('forecourt.metrics.token')") == token
        # The whole of March, then dealership d2 only.
        for field, value in (("f-from", "2026-03-01"), ("f-to", "2026-03-31")):
            d.execute_script(f"document.getElementById('{field}').value = '{value}'")
        d.find_element("id", "apply").click()
        wait_for(d, lambda d: bars(d, "chart-funnel").get("leads") == 6)
        out: dict[str, Any] = {"march": {c: bars(d, c) for c in CHARTS}}
        out["march_figures"] = d.find_element("id", "speed-figures").text
        d.execute_script(
            "const s = document.getElementById('f-dealership'); s.value = 'd2';"
            "s.dispatchEvent(new Event('change'));"
        )
        wait_for(d, lambda d: bars(d, "chart-funnel").get("leads") == 2)
        out["d2"] = {c: bars(d, c) for c in CHARTS}
        out["options"] = [
            o.get_attribute("value")
            for o in d.find_elements("css selector", "#f-dealership option")
        ]
        return out

    async with served(svc) as base:
        seen = await asyncio.to_thread(run, base)

    march_ = seen["march"]
    assert march_["chart-funnel"] == {
        "enquiries": 10,
        "leads": 6,
        "valid leads": 5,
        "returning": 1,
        "prospects": 2,
        "reactivated": 1,
        "sales": 3,
    }
    assert march_["chart-speed"] == {
        "< 5 min": 1,
        "5-15 min": 1,
        "15-30 min": 1,
        "30-60 min": 0,
        "1-4 h": 1,
        "4-24 h": 0,
        "1-3 days": 0,
        "> 3 days": 0,
        "no attempt yet": 1,
    }
    assert "p50 15 min" in seen["march_figures"] and "SLA met 60.0 %" in seen["march_figures"]
    assert march_["chart-lost"] == {
        "no_interest.other_car": 1,
        "prospect.price": 1,
        "not_reached.max_attempts": 1,
        "pollution.test": 1,
    }
    assert march_["chart-recovery"] == {
        "lost deals": 3,
        "reactivations": 1,
        "sales from reactivated": 1,
        "bought elsewhere": 1,
        "returning customers": 1,
    }
    assert march_["chart-sources"] == {"Own site": 4, "Marketplace": 2}
    assert march_["chart-consultants"] == {"cara": 2, "dan": 1}
    d2 = seen["d2"]
    assert d2["chart-funnel"]["leads"] == 2 and d2["chart-funnel"]["sales"] == 0
    assert d2["chart-lost"] == {"not_reached.max_attempts": 1}
    assert d2["chart-consultants"] == {}
    assert seen["options"] == ["", "d1", "d2"]


CHARTS = (
    "chart-funnel",
    "chart-speed",
    "chart-lost",
    "chart-recovery",
    "chart-sources",
    "chart-consultants",
)
