// The shot page: a draggable before/after slider, and a replay of the stages exactly as they
// were shown after the shutter (original, placeholder, previews, reconstruction), from the
// record kept for it.
(() => {
  "use strict";

  // --- before / after slider ------------------------------------------------------------------
  const slider = document.getElementById("slider");
  if (slider) {
    const before = document.getElementById("slider-before");
    const handle = document.getElementById("slider-handle");
    const set = (fraction) => {
      const f = Math.min(1, Math.max(0, fraction));
      before.style.clipPath = `inset(0 ${(1 - f) * 100}% 0 0)`;
      handle.style.left = `${f * 100}%`;
      handle.setAttribute("aria-valuenow", String(Math.round(f * 100)));
      slider.dataset.position = f.toFixed(3);
    };
    const fromEvent = (ev) => {
      const r = slider.getBoundingClientRect();
      set((ev.clientX - r.left) / r.width);
    };
    let dragging = false;
    slider.addEventListener("pointerdown", (ev) => { dragging = true; slider.setPointerCapture(ev.pointerId); fromEvent(ev); });
    slider.addEventListener("pointermove", (ev) => { if (dragging) fromEvent(ev); });
    slider.addEventListener("pointerup", () => { dragging = false; });
    slider.addEventListener("pointercancel", () => { dragging = false; });
    handle.addEventListener("keydown", (ev) => {
      const now = Number(handle.getAttribute("aria-valuenow")) / 100;
      if (ev.key === "ArrowLeft") { set(now - 0.05); ev.preventDefault(); }
      if (ev.key === "ArrowRight") { set(now + 0.05); ev.preventDefault(); }
    });
    set(0.5);
  }

  // --- a shot still developing --------------------------------------------------------------
  // The page asks until the shot is developed or failed, then shows it as it is now.
  const page = document.getElementById("shot");
  if (page && page.dataset.status === "processing") {
    const ask = async () => {
      try {
        const r = await fetch(page.dataset.statusUrl, { headers: { Accept: "application/json" } });
        if (r.ok && (await r.json()).status !== "processing") { location.reload(); return; }
      } catch (err) { /* the server restarting: ask again */ }
      setTimeout(ask, 1000);
    };
    setTimeout(ask, 1000);
  }

  // --- replay --------------------------------------------------------------------------------
  const data = JSON.parse(document.getElementById("replay-data").textContent || "[]");
  const stageEl = document.getElementById("replay-stage");
  const img = document.getElementById("replay-img");
  const ph = document.getElementById("replay-placeholder");
  const caption = document.getElementById("replay-caption");
  const button = document.getElementById("replay");
  const DWELL_MS = 1100;
  const NAMES = { original: "Original", placeholder: "Processing", preview: "Gentler preview", reconstruction: "Reconstruction (recorded)" };
  const replay = { shown: [], playing: false };
  window.fluxReplay = replay;

  const describe = (s) => {
    // Every edit left out: the original is the recorded photo, not a reconstruction.
    if (s.stage === "reconstruction" && !(s.groups && s.groups.length)) {
      return ["Original (recorded): nothing was changed", s.note].filter(Boolean).join(" · ");
    }
    const parts = [NAMES[s.stage] || s.stage];
    if (s.groups && s.groups.length) parts.push(`models: ${s.groups.join(", ")}${typeof s.strength === "number" && s.strength < 1 ? ` at ${Math.round(s.strength * 100)} %` : ""}`);
    if (s.regions && s.regions.length) parts.push(`regions: ${s.regions.join(", ")}`);
    if (s.divergence) {
      const d = s.divergence;
      parts.push(`divergence ${d.score}${d.changed != null ? `, ${Math.round(d.changed * 100)} % changed` : ""}${d.diverged ? " (far)" : ""}`);
    }
    if (s.note) parts.push(s.note);
    return parts.join(" · ");
  };

  const preload = (src) => new Promise((resolve) => {
    const probe = new Image();
    probe.onload = probe.onerror = () => resolve();
    probe.src = src;
  });

  async function show(s) {
    stageEl.dataset.stage = s.stage;
    if (s.stage === "placeholder") {
      const spec = s.placeholder || {};
      ph.style.background = spec.colour || "#1b1f27";
      ph.querySelector("span").textContent = spec.text || "";
      ph.classList.toggle("card-kind", spec.kind === "card");
      ph.hidden = false;
      img.hidden = true;
    } else if (s.image) {
      await preload(s.image);
      img.classList.remove("in");
      img.src = s.image;
      img.hidden = false;
      void img.offsetWidth; // restart the fade
      img.classList.add("in");
      ph.hidden = true;
    }
    caption.textContent = describe(s);
    replay.shown.push({ stage: s.stage, index: s.index, at: performance.now() });
  }

  if (button) {
    button.addEventListener("click", async () => {
      if (replay.playing || !data.length) return;
      replay.playing = true;
      replay.shown = [];
      button.disabled = true;
      for (const s of data) {
        await show(s);
        await new Promise((r) => setTimeout(r, DWELL_MS));
      }
      replay.playing = false;
      button.disabled = false;
      stageEl.dataset.done = "true";
    });
    if (data.length) show(data[data.length - 1]);
  }
})();
