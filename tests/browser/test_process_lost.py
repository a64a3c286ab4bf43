"""A web process killed under a page, in a real Chromium: two daphne processes on Redis (`manage.py
serve --processes 2`), the page's own process killed right after a shot is saved. The page
reconnects to the other process and says so; the shot is never left developing; its page
develops it again from the original."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.browser.test_shoot_page import TIMEOUT_MS, log_in, wait_for_live
from tests.capture.test_web_processes import two_processes  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.channels]


def test_a_page_whose_process_dies_reconnects_says_so_and_its_shot_develops_again(
    two_processes,  # noqa: F811
    browser,
    artifacts,
):
    site = two_processes
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        log_in(page, site)
        wait_for_live(page, min_frames=3)
        process = int(page.get_attribute("#shoot", "data-process"))
        page.click("#shutter")
        page.wait_for_function("Number(document.getElementById('shoot').dataset.shots || 0) >= 1", timeout=TIMEOUT_MS)
        shot = page.evaluate("document.getElementById('shoot').dataset.shot")
        os.kill(process, signal.SIGKILL)
        killed_at = time.monotonic()

        # Back on another process within 2 s, and the page says so.
        page.wait_for_function(
            f"(document.getElementById('shoot').dataset.process || '{process}') !== '{process}'", timeout=5000
        )
        assert time.monotonic() - killed_at < 2.5
        page.wait_for_function(
            "window.fluxShoot.toasts.some((t) => t.startsWith('Reconnected: another server process'))",
            timeout=5000,
        )
        wait_for_live(page, min_frames=1)
        page.screenshot(path=str(artifacts / "process-lost-reconnected.png"))

        # The shot is developed or failed, never left developing.
        page.goto(f"{site.url}/shots/{shot}/")
        page.wait_for_selector('#shot:not([data-status="processing"])', timeout=TIMEOUT_MS)
        # One the dead process had saved and not yet developed (made here, since the race with the
        # kill may go either way) is marked failed by serve: its page says why and develops it
        # again from the original.
        orphan = site.left_developing(shot, process)
        page.goto(f"{site.url}/shots/{orphan}/")
        page.wait_for_selector('#shot[data-status="failed"]', timeout=TIMEOUT_MS)
        assert "stopped before it finished" in page.inner_text(".page-head")
        page.screenshot(path=str(artifacts / "process-lost-shot-failed.png"))
        page.click("#develop-again")
        # The page asks until the shot is developed, then shows it (a reload).
        page.wait_for_selector('#shot[data-status="done"]', timeout=TIMEOUT_MS)
        assert "Develop again" not in page.inner_text("body")
        page.screenshot(path=str(artifacts / "process-lost-shot-developed.png"), full_page=True)
    finally:
        context.close()
