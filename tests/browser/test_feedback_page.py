"""What a verdict taught, as the user sees it: after a rejected brightening and its fine-tune, the
next similar shot's page says the edit was shortened and why, in a real Chromium."""

from __future__ import annotations

import pytest

from tests.browser.test_shoot_page import TIMEOUT_MS, log_in

pytestmark = pytest.mark.browser

# The whole loop in the server's own database: learning data, a trained lighting model, a shot
# developed as the shutter does, its rejection, the queued fine-tune run, then a similar shot.
TEACH = """
from django.contrib.auth import get_user_model
from capture import services as capture_services, shutter
from capture.models import Shot
from reconstruction import services
from reconstruction.core.extraction import Analyzer
from reconstruction.core.generators.lighting import tone_curve
from reconstruction.core.imageio import encode_jpeg
from reconstruction.models import TrainingRun
from tests.conftest import video_frames
erin = get_user_model().objects.get(username='erin')
frames = [f for _, f in sorted(video_frames('single_face.mp4', range(0, 72, 4)).items())]
with Analyzer() as analyzer:
    for f in frames:
        for s in (-0.7, 0.0, 0.7):
            rgb = tone_curve(f, s)
            services.record_learning_sample(erin, encode_jpeg(rgb), analyzer.analyze(rgb).to_json())
    services.run_training(services.start_training(erin, 'lighting', steps=60, enqueue=False).pk, analyzer=analyzer)

    def shoot(rgb):
        analysis = analyzer.analyze(rgb)
        shot = capture_services.save_shot(erin, encode_jpeg(rgb, 95), analysis.to_json(), status=Shot.PROCESSING)
        shutter.develop(erin, shot, rgb, analysis, analyzer, lambda m: None, chosen='portrait')
        return shot

    first = shoot(tone_curve(frames[1], -0.6))
    capture_services.give_feedback(erin, first.id, 'rejected')
    run = TrainingRun.objects.get(user=erin, group='lighting', status=TrainingRun.QUEUED)
    services.run_training(run.pk, analyzer=analyzer)
    print('SHOT', shoot(tone_curve(frames[2], -0.6)).id)
"""


def test_the_shot_page_says_how_a_rejection_shortened_the_next_edit(flux_server, browser, artifacts):
    flux_server.make_user("erin")
    out = flux_server.manage("shell", "-c", TEACH, timeout=300)
    shot = next(line.split()[1] for line in out.splitlines() if line.startswith("SHOT "))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        log_in(page, flux_server, next_path=f"/shots/{shot}/", username="erin")
        learned = page.locator(".learned").first
        learned.wait_for(timeout=TIMEOUT_MS)
        assert "Exposure: you rejected a similar edit, so this one goes" in learned.inner_text()
        learned.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "shot-learned.png"), full_page=True)
        page.goto(f"{flux_server.url}/models/")
        lighting = page.locator('section[data-group="lighting"]')
        assert "version 2 in use" in lighting.inner_text()
        assert "rejected" in lighting.locator("table.versions tbody tr").first.locator(".learned").inner_text()
        page.screenshot(path=str(artifacts / "models-learned.png"), full_page=True)
    finally:
        page.close()
