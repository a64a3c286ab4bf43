"""My models in a real Chromium: a trained version with its histograms, training started from the
page and followed live until the new version appears, and a rollback."""

from __future__ import annotations

import subprocess
import sys
import threading

import cv2
import pytest

from reconstruction.core.generators.lighting import tone_curve
from tests.browser.conftest import REPO_ROOT
from tests.browser.test_shoot_page import TIMEOUT_MS, log_in
from tests.conftest import video_frames

pytestmark = pytest.mark.browser


def test_training_from_the_page_shows_progress_then_the_new_version_and_rolls_back(
    flux_server, browser, artifacts, tmp_path
):
    photos = []
    for i, frame in video_frames("single_face.mp4", range(0, 72, 8)).items():
        for k, strength in enumerate((-0.7, 0.0, 0.7)):
            path = tmp_path / f"f{i}-{k}.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(tone_curve(frame, strength), cv2.COLOR_RGB2BGR))
            photos.append(str(path))
    flux_server.manage("train", "alice", "--from", *photos, "--group", "lighting", "--steps", "30", timeout=300)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        log_in(page, flux_server, next_path="/models/")
        lighting = page.locator('section[data-group="lighting"]')
        assert "version 1 in use" in lighting.inner_text()
        assert lighting.locator("svg rect.range").count() >= 1  # the reconstructable range is marked
        assert lighting.locator("svg rect.bar").count() == 40  # 20 bins for each of the two elements

        lighting.locator(".train-button").click()
        page.wait_for_selector('section[data-group="lighting"] .progress[data-status="queued"]', timeout=TIMEOUT_MS)
        # The page's worker: the same command `make run` starts, here run once over the queue.
        worker = threading.Thread(
            target=subprocess.run,
            args=([sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay"],),
            kwargs={"cwd": REPO_ROOT, "env": flux_server.env, "capture_output": True, "timeout": 300},
        )
        worker.start()
        page.wait_for_selector('section[data-group="lighting"] .badge.ok:has-text("version 2 in use")', timeout=120_000)
        worker.join()
        page.screenshot(path=str(artifacts / "models-trained.png"), full_page=True)
        rows = page.locator('section[data-group="lighting"] table.versions tbody tr')
        assert rows.count() == 2
        # The new version says how its figures moved since version 1 (trained with fewer pairs).
        assert rows.first.locator(".metrics .delta").count() >= 1
        page.locator('section[data-group="lighting"] tr:has-text("v1") button:has-text("use this version")').click()
        page.wait_for_selector(
            'section[data-group="lighting"] .badge.ok:has-text("version 1 in use")', timeout=TIMEOUT_MS
        )
        assert "version 1 is now in use" in page.inner_text(".flash")
        # A damaged weights file is flagged with what fixes it, and no server path.
        alice = flux_server.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as g; print(g().objects.get(username='alice').pk)",
        ).split()[-1]
        (weights,) = [
            p
            for p in (flux_server.var_dir / "weights" / alice).rglob("*")
            if p.is_file() and "lighting" in str(p) and p.stem.endswith("1")
        ]
        weights.write_bytes(b"damaged")
        page.reload()
        flagged = page.locator('section[data-group="lighting"]')
        assert "version 1 is damaged" in flagged.locator(".badge.damaged").inner_text()
        why = flagged.locator(".damaged-why").inner_text()
        assert "retrain it, or use an earlier version" in why and str(flux_server.var_dir) not in page.content()
        page.screenshot(path=str(artifacts / "models-damaged.png"), full_page=True)
    finally:
        page.close()
