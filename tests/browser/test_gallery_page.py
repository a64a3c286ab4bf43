"""Gallery → shot → replay → accept, in a real Chromium against the real server."""

from __future__ import annotations

import pytest

from tests.browser.test_shoot_page import TIMEOUT_MS, log_in

pytestmark = pytest.mark.browser

MAKE_SHOTS = """
import numpy as np
from django.contrib.auth import get_user_model
from matplotlib import cbook
from reconstruction.core.imageio import read_image, fit_within
from tests.capture.test_gallery_and_feedback import make_shot
owner = get_user_model().objects.get(username='dave')
photo = fit_within(read_image(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)), 480, 480)
for intention in ('fun', 'travel', 'portrait'):
    make_shot(owner, photo, intention=intention)
"""


def test_gallery_to_shot_to_replay_to_accept(flux_server, browser, artifacts):
    flux_server.make_user("dave")  # his own shots and models: other tests share this server's alice
    flux_server.manage("shell", "-c", MAKE_SHOTS, timeout=120)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        log_in(page, flux_server, next_path="/gallery/", username="dave")
        thumbs = page.locator("#thumbs .thumb")
        assert thumbs.count() >= 3
        page.wait_for_function(
            "[...document.querySelectorAll('#thumbs img')].every(i => i.complete && i.naturalWidth > 0)",
            timeout=TIMEOUT_MS,
        )
        page.screenshot(path=str(artifacts / "gallery.png"), full_page=True)
        page.select_option('select[name="intention"]', "travel")
        page.click('#filters button[type="submit"]')
        page.wait_for_url("**intention=travel**", timeout=TIMEOUT_MS)
        assert page.locator("#thumbs .thumb").count() >= 1
        page.locator("#thumbs .thumb a").first.click()
        page.wait_for_selector("#shot", timeout=TIMEOUT_MS)
        assert page.get_attribute("#shot", "data-feedback") == "none"

        page.locator("#slider").scroll_into_view_if_needed()
        box = page.locator("#slider").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        assert float(page.get_attribute("#slider", "data-position")) == pytest.approx(0.2, abs=0.05)

        page.click("#replay")
        page.wait_for_function(
            "document.getElementById('replay-stage').dataset.stage === 'placeholder'", timeout=TIMEOUT_MS
        )
        page.screenshot(path=str(artifacts / "replay-placeholder.png"))
        page.wait_for_function("document.getElementById('replay-stage').dataset.done === 'true'", timeout=TIMEOUT_MS)
        shown = page.evaluate("window.fluxReplay.shown.map(s => s.stage)")
        assert shown == ["original", "placeholder", "preview", "reconstruction"]
        assert "Reconstruction (recorded)" in page.inner_text("#replay-caption")
        assert page.locator("#replay-placeholder").is_hidden() and page.locator("#replay-img").is_visible()
        page.screenshot(path=str(artifacts / "shot-page.png"), full_page=True)
        # The recorded photo's Content Credentials: valid, and what they say in plain words.
        assert page.get_attribute("#credentials", "data-state") == "valid"
        words = page.inner_text("#credentials-words")
        assert "Signed by" in words and "Opened the original photo" in words, words

        page.click("#accept")
        page.wait_for_selector(".flash p.success", timeout=TIMEOUT_MS)
        assert page.get_attribute("#shot", "data-feedback") == "accepted"
        assert "Accepted" in page.inner_text(".flash")
    finally:
        page.close()


def test_the_gallery_and_the_shot_page_fit_a_phone(flux_server, browser, artifacts):
    flux_server.make_user("dave")
    flux_server.manage("shell", "-c", MAKE_SHOTS, timeout=120)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        log_in(page, flux_server, next_path="/gallery/", username="dave")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts / "gallery-phone.png"))
        page.locator("#thumbs .thumb a").first.click()
        page.wait_for_selector("#shot", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "[...document.querySelectorAll('#shot img:not([hidden])')].every(i => i.complete && i.naturalWidth > 0)",
            timeout=TIMEOUT_MS,
        )
        page.wait_for_timeout(400)  # the replay pane's fade-in
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts / "shot-phone.png"), full_page=True)
    finally:
        context.close()
