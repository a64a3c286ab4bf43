"""The settings page in a real Chromium: change the preview mode and an ideal degree, save, and see
them kept after a reload."""

from __future__ import annotations

import pytest

from tests.browser.test_shoot_page import log_in

pytestmark = pytest.mark.browser


def test_the_settings_page_saves_the_preview_mode_and_the_intention_table(flux_server, browser, artifacts):
    flux_server.make_user("erin")  # her own settings: other tests share this server's alice
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        log_in(page, flux_server, next_path="/settings/", username="erin")
        page.select_option("#id_preview_mode", "3")
        page.select_option("#id_sequence_order", "divergence_desc")
        page.click('button:has-text("Save preview settings")')
        page.wait_for_selector(".flash p.success", timeout=20_000)
        assert page.input_value("#id_preview_mode") == "3"
        assert page.input_value("#id_sequence_order") == "divergence_desc"
        smile = 'tr[data-element="expression.smile"] input[name="fun__expression__smile"]'
        page.fill(smile, "0.65")
        page.click('button:has-text("Save intention table")')
        page.wait_for_selector(".flash p.success", timeout=20_000)
        page.reload()
        assert page.input_value(smile) == "0.65"
        assert "your own: fun" in page.inner_text("#intentions")
        page.screenshot(path=str(artifacts / "settings.png"), full_page=True)
        page.click('button:has-text("Back to the defaults")')
        page.wait_for_selector(".flash p.success", timeout=20_000)
        assert page.input_value(smile) == "1.0"
    finally:
        page.close()
