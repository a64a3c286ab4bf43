"""The shooting page in a real Chromium against the real daphne server, with a fake webcam that
plays real footage of a man going neutral -> smile -> neutral (see conftest.py)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000


def log_in(page, server, next_path="/shoot/", username="alice"):
    page.goto(f"{server.url}/accounts/login/?next={next_path}")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button:has-text("Log in")')
    page.wait_for_url(f"{server.url}{next_path}", timeout=TIMEOUT_MS)


def frames_received(page) -> int:
    return int(page.get_attribute("#shoot", "data-frames") or 0)


def wait_for_live(page, min_frames=5):
    """Camera on, socket open, and at least ``min_frames`` analysed frames back."""
    page.wait_for_selector("#shutter:not([disabled])", timeout=TIMEOUT_MS)
    page.wait_for_function(
        f"Number(document.getElementById('shoot').dataset.frames || 0) >= {min_frames}", timeout=TIMEOUT_MS
    )


def meter_value(page, element: str) -> str:
    return page.inner_text(f'.meter[data-element="{element}"] .meter-value').strip()


# The face box: how many overlay pixels are drawn, and their bounds as fractions of the canvas.
OVERLAY_INK = """() => {
  const c = document.getElementById('overlay');
  if (!c.width || !c.height) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0, x0 = c.width, y0 = c.height, x1 = -1, y1 = -1;
  for (let i = 3; i < d.length; i += 4) {
    if (d[i] > 0) {
      const p = (i - 3) / 4, x = p % c.width, y = Math.floor(p / c.width);
      n++; if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
  }
  return {n, x0: x0 / c.width, y0: y0 / c.height, x1: x1 / c.width, y1: y1 / c.height,
          w: c.width, h: c.height};
}"""

# Recorded by a listener added after the page's own: it runs in the same event dispatch, right
# after shoot(), so nothing from the server can have arrived in between.
RECORD_AT_SHUTTER = """() => {
  const snap = () => ({
    frozen: document.getElementById('shoot').dataset.frozen,
    frozenHidden: document.getElementById('frozen').hidden,
    toast: document.getElementById('toast').textContent,
    shots: document.getElementById('shoot').dataset.shots || '0',
  });
  window.__atShutter = [];
  document.getElementById('shutter').addEventListener('click', () => window.__atShutter.push(snap()));
  document.addEventListener('keydown', (ev) => { if (ev.code === 'Space') window.__atShutter.push(snap()); });
}"""


def alice_shots(server) -> list[tuple]:
    with sqlite3.connect(server.db_path) as db:
        return db.execute(
            "SELECT s.original, s.width, s.height, s.elements FROM capture_shot s "
            "JOIN auth_user u ON u.id = s.user_id WHERE u.username = 'alice' ORDER BY s.created_at"
        ).fetchall()


def take_shot(page, press, expected_shots: int):
    """Press the shutter; the frame must freeze at once, then the server confirms the save."""
    page.wait_for_function("document.getElementById('shoot').dataset.frozen !== 'true'", timeout=TIMEOUT_MS)
    before = len(page.evaluate("window.__atShutter"))
    page.evaluate("window.fluxShoot.toasts.length = 0")
    press()
    at_shutter = page.evaluate("window.__atShutter")
    assert len(at_shutter) == before + 1, "the shutter listener did not fire"
    snap = at_shutter[-1]
    assert snap["frozen"] == "true" and snap["frozenHidden"] is False, f"the frame did not freeze at once: {snap}"
    assert snap["toast"] == "Saving…", snap
    assert snap["shots"] == str(expected_shots - 1), snap
    # Still frozen when we look from outside (it stays frozen until 1.2 s after the save).
    assert page.get_attribute("#shoot", "data-frozen") == "true"
    assert page.is_visible("canvas#frozen")
    # Saved: said on the page (a shot developed fast replaces the words within milliseconds).
    page.wait_for_function("window.fluxShoot.toasts.includes('Saved ✓')", timeout=TIMEOUT_MS)
    page.wait_for_function(f"document.getElementById('shoot').dataset.shots === '{expected_shots}'", timeout=TIMEOUT_MS)
    assert page.is_visible("#toast")
    assert page.evaluate("window.fluxShoot.errors") == []


def on_failure(page, server, artifacts, name):
    """Keep what the page and the server looked like when a test failed."""
    try:
        page.screenshot(path=str(artifacts / f"{name}-failure.png"))
        print(f"--- window.fluxShoot.errors: {page.evaluate('window.fluxShoot && window.fluxShoot.errors')}")
    except Exception:
        pass
    print(f"--- server log (tail):\n{server.log()}")


def test_an_anonymous_visit_to_the_shoot_page_lands_on_the_login_page(flux_server, browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{flux_server.url}/shoot/")
        assert page.url.startswith(f"{flux_server.url}/accounts/login/")
        assert "next=/shoot/" in page.url
        assert page.is_visible('input[name="username"]') and page.is_visible('input[name="password"]')
        assert page.locator("#shoot").count() == 0
    finally:
        context.close()


def test_the_meters_move_and_the_shutter_saves_a_shot(flux_server, browser, artifacts):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        log_in(page, flux_server)
        wait_for_live(page, min_frames=5)

        # The smile meter follows the face: neutral (near 0) and smiling (near 1) both show up
        # within a couple of loops of the clip.
        smiles, exposures, ink = [], set(), None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            value = meter_value(page, "expression.smile")
            if value != "—":
                smiles.append(float(value))
            exposures.add(meter_value(page, "lighting.exposure"))
            drawn = page.evaluate(OVERLAY_INK)
            if drawn and drawn["n"] > 100:
                ink = drawn
            if smiles and min(smiles) < 0.3 and max(smiles) > 0.7 and ink:
                break
            page.wait_for_timeout(100)
        assert smiles, "the smile meter never showed a value"
        assert max(smiles) - min(smiles) > 0.3, f"the smile meter did not move: {sorted(set(smiles))}"
        assert min(smiles) < 0.3 < 0.7 < max(smiles), (
            f"neutral and smiling faces should both show: {sorted(set(smiles))}"
        )
        assert page.get_attribute('.meter[data-element="expression.smile"]', "class") == "meter"
        assert exposures - {"—"}, "lighting.exposure never had a value"
        for value in exposures - {"—"}:
            assert 0.0 <= float(value) <= 1.0
        # The bar and its number show the same value at the same moment: no animation behind it.
        bar = page.evaluate(
            """() => { const m = document.querySelector('.meter[data-element="expression.smile"]');
                       const f = m.querySelector('.meter-fill');
                       return {width: f.style.width, value: m.querySelector('.meter-value').textContent,
                               transition: getComputedStyle(f).transitionDuration}; }"""
        )
        assert bar["transition"] == "0s", bar
        assert abs(float(bar["width"].rstrip("%")) - 100 * float(bar["value"])) <= 0.5, bar
        # Readings that jump 0 <-> 0.5 from one update to the next (eyes shut while laughing) show
        # as a steady meter, and a real change still comes through within a few updates.
        steady = page.evaluate(
            """() => { const s = window.fluxMeters.smoothed; const out = [];
                       for (let i = 0; i < 12; i++) out.push(s('test.flicker', i % 2 ? 0.5 : 0));
                       for (let i = 0; i < 5; i++) out.push(s('test.flicker', 1.0));
                       return out; }"""
        )
        assert all(0.1 < v < 0.42 for v in steady[4:12]), steady
        assert steady[-1] > 0.9, steady

        # A face box was drawn on the overlay, around the middle of the frame, not the whole frame.
        assert ink, "no face box was drawn on the overlay canvas"
        assert 0.05 < ink["x1"] - ink["x0"] < 0.9 and 0.05 < ink["y1"] - ink["y0"] < 0.95, ink
        # The overlay has the video's own size and box, so the box sits on the face.
        geometry = page.evaluate("""() => {
          const v = document.getElementById('video'), o = document.getElementById('overlay');
          const a = v.getBoundingClientRect(), b = o.getBoundingClientRect();
          return {vw: v.videoWidth, vh: v.videoHeight, ow: o.width, oh: o.height,
                  same: ['x', 'y', 'width', 'height'].every((k) => Math.abs(a[k] - b[k]) < 1)};
        }""")
        assert (geometry["ow"], geometry["oh"]) == (geometry["vw"], geometry["vh"]) == (640, 360), geometry
        assert geometry["same"], geometry
        assert page.inner_text("#status") == "live"
        page.screenshot(path=str(artifacts / "shoot-live.png"))

        # Shot 1: the shutter button.
        page.evaluate(RECORD_AT_SHUTTER)
        take_shot(page, lambda: page.click("#shutter"), expected_shots=1)
        # The new shot's thumbnail loads from the owner-only original view.
        page.wait_for_function(
            "(() => { const i = document.querySelector('#recent img');"
            " return !!i && i.complete && i.naturalWidth === 640; })()",
            timeout=TIMEOUT_MS,
        )
        page.screenshot(path=str(artifacts / "shoot-saved.png"))

        # Shot 2: the space bar, with the focus on the page rather than the button.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        take_shot(page, lambda: page.keyboard.press("Space"), expected_shots=2)

        # The frame unfreezes after the save and the live meters go on.
        page.wait_for_function("document.getElementById('shoot').dataset.frozen === 'false'", timeout=TIMEOUT_MS)
        frames = frames_received(page)
        page.wait_for_function(
            f"Number(document.getElementById('shoot').dataset.frames) > {frames}", timeout=TIMEOUT_MS
        )
        assert page.locator("#recent img").count() == 2

        # On the server: two shots of alice, stored with their degrees.
        shots = alice_shots(flux_server)
        assert len(shots) == 2, shots
        for original, width, height, elements in shots:
            assert (width, height) == (640, 360)
            assert (flux_server.var_dir / "media" / original).is_file()
            assert '"expression.smile"' in elements
    except Exception:
        on_failure(page, flux_server, artifacts, "shoot")
        raise
    finally:
        context.close()


def test_the_shoot_page_fits_a_phone_screen(flux_server, browser, artifacts):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        log_in(page, flux_server)
        wait_for_live(page, min_frames=3)
        page.wait_for_function(
            "() => { const c = document.getElementById('overlay'); if (!c.width) return false;"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }",
            timeout=TIMEOUT_MS,
        )
        page.screenshot(path=str(artifacts / "shoot-phone.png"))
        layout = page.evaluate("""() => {
          const r = (id) => document.getElementById(id).getBoundingClientRect();
          return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
                  innerHeight: window.innerHeight, stage: r('stage').toJSON(), shutter: r('shutter').toJSON(),
                  meters: r('meters').toJSON()};
        }""")
        # No sideways scrolling; the picture and the shutter are on the first screen, the meters below.
        assert layout["scrollWidth"] <= layout["innerWidth"], layout
        assert layout["stage"]["width"] > 0.9 * layout["innerWidth"] - 20, layout
        assert layout["shutter"]["bottom"] <= layout["innerHeight"], layout
        assert layout["meters"]["top"] >= layout["stage"]["bottom"], layout
    except Exception:
        on_failure(page, flux_server, artifacts, "shoot-phone")
        raise
    finally:
        context.close()
