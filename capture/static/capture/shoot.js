// The shooting page: webcam -> JPEG frames over the socket -> live meters and face boxes;
// the shutter freezes the frame at once (no round trip) and sends it as the shot, with the
// intention chosen on the page and the wish typed or said. The server then streams the plan and
// the display stages (original, placeholder, previews, reconstruction); they are shown here in
// index order, each for at least DWELL_MS, cross-fading over the frozen original.
// Protocol: capture/protocol.py.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const root = $("shoot");
  const video = $("video");
  const overlay = $("overlay");
  const frozen = $("frozen");
  const stage = $("stage");
  const develop = $("develop");
  const stageMsg = $("stage-msg");
  const toastEl = $("toast");
  const statusEl = $("status");
  const shutterBtn = $("shutter");
  const switchBtn = $("switch-camera");
  const resumeBtn = $("resume");
  const resumeTimer = $("resume-timer");
  const perfEl = $("perf");
  const recentEl = $("recent");
  const intentionEl = $("intention");
  const wishEl = $("wish");
  const voiceBtn = $("voice");
  const caption = {
    box: $("caption"), title: $("caption-title"), models: $("caption-models"), note: $("caption-note"),
    changes: $("caption-changes"), divergence: $("caption-divergence"),
  };
  const result = {
    box: $("result"), intention: $("result-intention"), reasons: $("result-reasons"), rule: $("result-rule"),
    timeline: $("timeline"), verdict: $("verdict"), accept: $("accept-shot"), reject: $("reject-shot"), link: $("shot-link"),
  };

  const SEND_WIDTH = 640;        // live frames are analysed at this width
  const MIN_INTERVAL_MS = 100;   // at most 10 frames a second
  const RESEND_AFTER_MS = 1000;  // an answer lost for this long frees the next frame
  const SHOT_MAX_W = 1920, SHOT_MAX_H = 1080;
  const DOUBLE_PRESS_MS = 400;   // two presses closer than this are one shot

  const STAGE_TITLES = {
    original: "Original", placeholder: "Processing", preview: "Gentler preview", reconstruction: "Reconstruction (recorded)",
  };
  const SOURCES = { chosen: "chosen by you", said: "from your wish", image: "inferred from the shot" };

  const meters = new Map();
  const labels = {};
  document.querySelectorAll(".meter").forEach((el) => {
    meters.set(el.dataset.element, el);
    labels[el.dataset.element] = el.dataset.label || el.dataset.element;
  });

  const state = {
    ws: null, stream: null, facing: "user", inFlight: false, sentAt: 0, frames: 0,
    frozen: false, shots: 0, lastRtt: 0, lastMs: 0, errors: [], toasts: [], busy: [],
    // The staged preview. ``dev`` is the shot on screen; ``awaiting`` the shots pressed whose
    // shot_saved has not come yet, oldest first (the server answers them in order).
    dev: null, awaiting: [], lastShutterAt: -Infinity,
    shown: [],              // {shot, stage, index, at} in display order, every shot of this page
    plans: [],              // the plan messages of the shots shown
    dwellMs: 600,           // the least time each stage stays on screen
    fadeMs: 250,            // the cross-fade between stages
    resumeAfterMs: 6000,    // back to the live camera this long after a reconstruction (0: stay)
    resumeAfterOriginalMs: 2500,  // ... after a shot with nothing reconstructed
  };
  window.fluxShoot = state; // read by the browser tests and handy in the console

  const grab = document.createElement("canvas");
  const grabCtx = grab.getContext("2d");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.dataset.state = kind;
  }

  let toastTimer = null;
  function toast(text, kind, ms) {
    // The last few, for the browser tests: a fast shot replaces "Saved ✓" within milliseconds.
    state.toasts.push(text);
    if (state.toasts.length > 20) state.toasts.shift();
    toastEl.textContent = text;
    toastEl.className = "toast " + (kind || "");
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    if (ms) toastTimer = setTimeout(() => { toastEl.hidden = true; }, ms);
  }

  // --- socket -------------------------------------------------------------------------------
  let retry = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    setStatus("connecting…", "connecting");
    ws.onopen = () => { retry = 500; };
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      state.inFlight = false;
      shutterBtn.disabled = true;
      // Whatever was being developed will not reach this socket any more (it is still recorded).
      state.awaiting = [];
      if (state.dev && !state.dev.done) {
        toast("The connection dropped while a shot developed: its original is saved; the strip below shows what became of it.", "bad", 5000);
        resume(800);
      }
      if (ev.code === 1009) toast("A message to the server was too large (over 8 MB) and the connection was closed; reconnecting.", "bad", 6000);
      if (ev.code === 4429) {
        setStatus("too many camera pages", "error");
        toast("You have too many camera pages open: close one and reload this page.", "bad", 8000);
        return;
      }
      if (ev.code === 4401) {
        setStatus("logged out", "error");
        location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
        return;
      }
      setStatus("reconnecting…", "error");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 8000);
    };
  }

  function handle(msg) {
    switch (msg.type) {
      case "hello":
        // A page whose server process stopped reconnects to another one (several web processes
        // share the port): say so, since a shot it was developing may need developing again.
        if (state.process && msg.process && msg.process !== state.process) {
          toast("Reconnected: another server process serves this page now. A shot that was developing shows in the strip below; if it did not finish, open it to develop it again.", "ok", 8000);
        }
        state.process = msg.process || state.process;
        root.dataset.process = String(state.process || "");
        setStatus("live", "live");
        shutterBtn.disabled = !state.stream;
        if (Array.isArray(msg.intentions)) syncIntentions(msg.intentions);
        for (const e of msg.elements || []) labels[e.name] = e.label;
        break;
      case "degrees":
        state.inFlight = false;
        state.frames += 1;
        state.lastRtt = performance.now() - state.sentAt;
        state.lastMs = msg.ms;
        root.dataset.frames = String(state.frames);
        showDegrees(msg);
        break;
      case "shot_saved":
        onShotSaved(msg);
        break;
      case "plan":
        onPlan(msg);
        break;
      case "stage":
        onStage(msg);
        break;
      case "error":
        onError(msg);
        break;
      case "recorded":
        // A shot developed on another of this user's open pages: its strip shows the recorded photo.
        if (msg.elsewhere) recordedThumb(msg);
        break;
      default:
        break;
    }
  }

  // --- camera -------------------------------------------------------------------------------
  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      stageMsg.textContent = "This browser gives the camera only to https pages or localhost. Open the https address that `make run` printed.";
      return;
    }
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: state.facing, width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
    } catch (err) {
      stageMsg.textContent = "The camera is not available: " + err.message;
      state.stream = null;
      return;
    }
    video.srcObject = state.stream;
    stage.classList.toggle("mirrored", state.facing === "user");
    stageMsg.textContent = "";
    shutterBtn.disabled = !(state.ws && state.ws.readyState === WebSocket.OPEN);
    const devices = await navigator.mediaDevices.enumerateDevices();
    switchBtn.dataset.single = String(devices.filter((d) => d.kind === "videoinput").length < 2 && !/Mobi|Android/i.test(navigator.userAgent));
    switchBtn.hidden = switchBtn.dataset.single === "true" || state.frozen;
  }

  switchBtn.addEventListener("click", () => {
    state.facing = state.facing === "user" ? "environment" : "user";
    startCamera();
  });

  // --- live frames --------------------------------------------------------------------------
  function sendFrame() {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth || state.frozen) return;
    const now = performance.now();
    if (state.inFlight && now - state.sentAt < RESEND_AFTER_MS) return;
    if (now - state.sentAt < MIN_INTERVAL_MS) return;
    const scale = Math.min(1, SEND_WIDTH / video.videoWidth);
    grab.width = Math.round(video.videoWidth * scale);
    grab.height = Math.round(video.videoHeight * scale);
    grabCtx.drawImage(video, 0, 0, grab.width, grab.height);
    state.inFlight = true;
    state.sentAt = now;
    grab.toBlob((blob) => {
      if (blob && ws.readyState === WebSocket.OPEN) blob.arrayBuffer().then((buf) => ws.send(buf));
    }, "image/jpeg", 0.75);
  }
  setInterval(sendFrame, 25);

  // The meters show each element smoothed over the last few updates (about 0.3 s at 10 fps):
  // MediaPipe's blink and smile readings of a face with its eyes shut jump by 0.3–0.5 from one
  // frame to the next (WolfgangLanger laughing with eyes shut: 0.08, 0.57, 0.22 in 0.3 s). The
  // number and the bar show the same value at once (no animation lagging behind the number).
  const SMOOTHING = 0.45;
  const meterValues = new Map();
  function smoothed(name, v) {
    if (v === null || v === undefined) {
      meterValues.delete(name);
      return null;
    }
    const last = meterValues.get(name);
    const next = last === undefined ? v : last + SMOOTHING * (v - last);
    meterValues.set(name, next);
    return next;
  }
  window.fluxMeters = { smoothed, values: meterValues };

  function showDegrees(msg) {
    for (const [name, meter] of meters) {
      const v = smoothed(name, msg.elements[name]);
      const fill = meter.querySelector(".meter-fill");
      const val = meter.querySelector(".meter-value");
      if (v === null) {
        meter.classList.add("absent");
        val.textContent = "—";
      } else {
        meter.classList.remove("absent");
        const rounded = Number(v.toFixed(2));
        fill.style.width = (rounded * 100).toFixed(0) + "%";
        val.textContent = rounded.toFixed(2);
      }
    }
    drawFaces(msg.faces);
    // The server has more streams than it can analyse at full rate: every stream still gets its
    // turn, but less often; say so while most of the last few frames waited.
    state.busy.push(Boolean(msg.busy));
    if (state.busy.length > 5) state.busy.shift();
    const busy = state.busy.filter(Boolean).length >= 3;
    if (busy && statusEl.dataset.state === "live") setStatus("live · server busy: the meters update less often", "busy");
    else if (!busy && statusEl.dataset.state === "busy") setStatus("live", "live");
    perfEl.textContent = `server ${msg.ms.toFixed(0)} ms · round trip ${state.lastRtt.toFixed(0)} ms · ${msg.faces.length} face(s)`;
  }

  // Each face's box, with its number when a group is in view; the canvas is mirrored with the
  // video for the front camera, so the numbers are drawn mirrored back to read the right way.
  function drawFaces(faces) {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w) return;
    if (overlay.width !== w || overlay.height !== h) { overlay.width = w; overlay.height = h; }
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    ctx.lineWidth = Math.max(2, w / 320);
    const mirrored = stage.classList.contains("mirrored");
    const size = Math.max(12, Math.round(w / 40));
    ctx.font = `700 ${size}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    for (const f of faces) {
      const [x, y, bw, bh] = f.box;
      const colour = f.main ? "#ffb347" : "#5ad1c8";
      ctx.strokeStyle = colour;
      ctx.strokeRect(x * w, y * h, bw * w, bh * h);
      if (faces.length < 2 || f.track === undefined) continue;
      const label = String(f.track);
      const tw = ctx.measureText(label).width + size * 0.6;
      // The tag sits above the box's left corner as the viewer sees it.
      const left = mirrored ? (x + bw) * w - tw : x * w;
      const top = Math.max(0, y * h - size * 1.3);
      ctx.save();
      if (mirrored) { ctx.translate(w, 0); ctx.scale(-1, 1); }
      const drawX = mirrored ? w - left - tw : left;
      ctx.fillStyle = colour;
      ctx.fillRect(drawX, top, tw, size * 1.25);
      ctx.fillStyle = "#10141b";
      ctx.fillText(label, drawX + size * 0.3, top + size * 0.12);
      ctx.restore();
    }
    showEveryone(faces);
  }

  // Everyone in view, one row each (left to right as the viewer sees them): smile, eyes open,
  // looking into the lens and sharpness, smoothed like the main meters, per face number.
  const facesBox = $("faces");
  const faceList = $("face-list");
  const MINI = [
    ["smile", (f) => f.degrees["expression.smile"], 0.0],
    ["eyes", (f) => f.degrees["expression.eye_openness"], 0.45],
    ["looking", (f) => f.looking, 0.4],
    ["sharp", (f) => { const b = f.degrees["posture.motion_blur"]; return b === null || b === undefined ? null : 1 - b; }, 0.5],
  ];
  function showEveryone(faces) {
    const numbered = faces.filter((f) => f.track !== undefined);
    facesBox.hidden = numbered.length < 2;
    if (facesBox.hidden) return;
    const mirrored = stage.classList.contains("mirrored");
    const seenX = (f) => { const c = f.box[0] + f.box[2] / 2; return mirrored ? 1 - c : c; };
    const order = [...numbered].sort((a, b) => seenX(a) - seenX(b));
    const rows = [];
    for (const f of order) {
      const row = document.createElement("div");
      row.className = "face-row";
      row.dataset.track = String(f.track);
      // Where the face is as seen (its box's centre over the frame), for a test or a reader.
      row.dataset.x = seenX(f).toFixed(2);
      row.dataset.y = (f.box[1] + f.box[3] / 2).toFixed(2);
      const num = document.createElement("span");
      num.className = "face-num" + (f.main ? " main" : "");
      num.textContent = String(f.track);
      num.title = f.main ? "the main subject" : `face ${f.track}`;
      row.append(num);
      for (const [name, read, low] of MINI) {
        const v = smoothed(`face${f.track}.${name}`, read(f));
        const cell = document.createElement("span");
        cell.className = "mini" + (v === null ? " absent" : v < low ? " low" : "");
        cell.dataset.name = name;
        const fill = document.createElement("span");
        fill.style.width = v === null ? "0" : (v * 100).toFixed(0) + "%";
        const text = document.createElement("i");
        text.textContent = v === null ? "—" : v.toFixed(2);
        cell.append(fill, text);
        row.append(cell);
      }
      rows.push(row);
    }
    faceList.replaceChildren(...rows);
  }

  // --- intention and wish -------------------------------------------------------------------
  function syncIntentions(list) {
    const chosen = intentionEl.value;
    intentionEl.replaceChildren(new Option("Auto (inferred)", ""), ...list.map((i) => new Option(i.label, i.name)));
    intentionEl.value = list.some((i) => i.name === chosen) ? chosen : "";
  }
  try { // the choice survives a reload
    const saved = localStorage.getItem("flux.intention");
    if (saved !== null && [...intentionEl.options].some((o) => o.value === saved)) intentionEl.value = saved;
  } catch (_) { /* storage may be off */ }
  intentionEl.addEventListener("change", () => {
    try { localStorage.setItem("flux.intention", intentionEl.value); } catch (_) { /* ignore */ }
    intentionEl.blur(); // so the space bar shoots again
  });
  wishEl.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === "Escape") { ev.preventDefault(); wishEl.blur(); }
  });

  const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  let recognition = null;
  if (Recognition) {
    voiceBtn.hidden = false;
    voiceBtn.addEventListener("click", () => {
      if (recognition) { recognition.stop(); return; }
      const rec = new Recognition();
      recognition = rec;
      rec.lang = document.documentElement.lang && navigator.language.startsWith(document.documentElement.lang)
        ? navigator.language : (document.documentElement.lang || "en");
      rec.interimResults = true;
      rec.maxAlternatives = 1;
      const before = wishEl.value;
      rec.onresult = (ev) => {
        let text = "";
        for (let i = 0; i < ev.results.length; i++) text += ev.results[i][0].transcript;
        wishEl.value = text.trim().slice(0, 300);
      };
      rec.onerror = (ev) => {
        if (ev.error !== "aborted" && ev.error !== "no-speech") toast("Voice input: " + (ev.message || ev.error), "bad", 3500);
        if (!wishEl.value) wishEl.value = before;
      };
      rec.onend = () => {
        recognition = null;
        voiceBtn.setAttribute("aria-pressed", "false");
        voiceBtn.classList.remove("listening");
      };
      voiceBtn.setAttribute("aria-pressed", "true");
      voiceBtn.classList.add("listening");
      try {
        rec.start();
      } catch (err) {
        rec.onend();
        toast("Voice input is not available: " + err.message, "bad", 3500);
      }
    });
  }

  // --- shutter ------------------------------------------------------------------------------
  function shoot() {
    if (shutterBtn.disabled || !video.videoWidth) return;
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const now = performance.now();
    if (now - state.lastShutterAt < DOUBLE_PRESS_MS) return;
    state.lastShutterAt = now;
    // A shot on screen (developing or developed) gives way to the new one: the video kept
    // playing under it, so the new shot is the live frame of this instant.
    clearShot();
    const intention = intentionEl.value || null;
    const wish = wishEl.value.trim() || null;
    wishEl.value = "";
    // Freeze first: the frame on screen is the shot, with no round trip.
    const scale = Math.min(1, SHOT_MAX_W / Math.max(video.videoWidth, video.videoHeight), SHOT_MAX_H / Math.min(video.videoWidth, video.videoHeight));
    frozen.width = Math.round(video.videoWidth * scale);
    frozen.height = Math.round(video.videoHeight * scale);
    frozen.getContext("2d").drawImage(video, 0, 0, frozen.width, frozen.height);
    frozen.hidden = false;
    state.frozen = true;
    root.dataset.frozen = "true";
    switchBtn.hidden = true;
    const dev = {
      shot: null, saved: null, plan: null, original: null, stages: new Map(), next: 1, busy: false,
      done: false, shutterAt: now, lastAt: now, previews: 0, entries: [], intention, wish,
    };
    state.dev = dev;
    state.awaiting.push(dev);
    // The original is on screen at once (claim 13); the server's stage 0 only adds its degrees.
    display(dev, { stage: "original", index: 0, shot: null }, null);
    toast("Saving…", "", 0);
    frozen.toBlob((blob) => {
      if (!blob) {
        state.awaiting = state.awaiting.filter((d) => d !== dev);
        toast("Could not capture the frame", "bad", 3000);
        if (state.dev === dev) resume(0);
        return;
      }
      blob.arrayBuffer().then((buf) => {
        ws.send(JSON.stringify({ type: "shutter", intention, wish }));
        ws.send(buf);
      });
    }, "image/jpeg", 0.92);
  }

  let unfreezeTimer = null;
  function unfreeze(delay) {
    clearTimeout(unfreezeTimer);
    unfreezeTimer = setTimeout(() => {
      frozen.hidden = true;
      state.frozen = false;
      root.dataset.frozen = "false";
      root.dataset.stage = "live";
      switchBtn.hidden = switchBtn.dataset.single === "true";
    }, delay);
  }

  // Take the developed shot off the screen (its messages still update the strip below).
  let resumeTimerId = null;
  function clearShot() {
    if (state.dev && state.dev.final) recordedThumb(state.dev.final); // left before it was shown
    clearTimeout(resumeTimerId);
    clearTimeout(unfreezeTimer);
    state.dev = null;
    develop.replaceChildren();
    caption.box.hidden = true;
    resumeBtn.hidden = true;
    resumeBtn.classList.remove("counting");
    delete root.dataset.shot;
  }

  function resume(delay) {
    clearShot();
    unfreeze(delay || 0);
  }
  resumeBtn.addEventListener("click", () => resume(0));
  const phone = window.matchMedia("(max-width: 560px)");
  caption.box.addEventListener("click", () => caption.box.classList.toggle(phone.matches ? "full" : "folded"));

  // --- the recent strip ---------------------------------------------------------------------
  const thumbs = new Map();
  recentEl.querySelectorAll("a[data-shot]").forEach((a) => thumbs.set(a.dataset.shot, a));

  function addThumb(shot) {
    const link = document.createElement("a");
    link.href = shot.url;
    link.target = "_blank";
    link.dataset.shot = shot.id;
    const img = document.createElement("img");
    img.src = shot.url;
    img.alt = "shot " + shot.created_at;
    link.appendChild(img);
    recentEl.prepend(link);
    thumbs.set(shot.id, link);
  }

  function recordedThumb(msg) {
    const link = thumbs.get(msg.shot);
    if (!link || !msg.url) return;
    link.href = msg.url;
    link.querySelector("img").src = msg.url;
    link.classList.toggle("developed", msg.recorded === "reconstruction");
    link.title = msg.recorded === "reconstruction" ? "the reconstruction (recorded)" : "the original (recorded)";
  }

  // --- the staged preview -------------------------------------------------------------------
  function onShotSaved(msg) {
    state.shots += 1;
    root.dataset.shots = String(state.shots);
    addThumb(msg.shot);
    if (msg.elsewhere) {
      toast("Saved a shot from your other device", "ok", 2500);
      return;
    }
    const dev = state.awaiting.shift();
    if (!dev) return;
    dev.shot = msg.shot.id;
    dev.saved = msg.shot;
    for (const entry of dev.entries) entry.shot = dev.shot;
    if (!state.awaiting.length) toast("Saved ✓", "ok", 2500); // else "Saving…" the newer one
    if (dev !== state.dev) return;
    root.dataset.shot = dev.shot;
    if (dev.next === 1) setCaption(dev, { stage: "original", index: 0 });
  }

  function onPlan(msg) {
    const dev = state.dev;
    if (!dev || dev.shot !== msg.shot) return; // an older shot, taken off the screen
    dev.plan = msg;
    state.plans.push(msg);
    renderPlan(msg);
    if (dev.next === 1) setCaption(dev, { stage: "original", index: 0 });
  }

  function onStage(msg) {
    const dev = state.dev;
    if (!dev || dev.shot !== msg.shot) { // only the newest shot's stages are shown
      if (msg.stage === "reconstruction") recordedThumb(msg);
      return;
    }
    if (msg.stage === "reconstruction") dev.final = msg; // in the strip once it is on screen
    dev.stages.set(msg.index, msg);
    if (msg.index === 0) {
      dev.original = msg;
      if (dev.next === 1) setCaption(dev, msg);
    }
    pump(dev);
  }

  function onError(msg) {
    state.errors.push(msg);
    if (msg.code !== "flood") state.inFlight = false;
    toast(msg.message, "bad", 5000);
    if (msg.code === "shot_deleted") {
      const dev = state.dev;
      if (dev && dev.shot === msg.shot && !dev.done) failed(dev, msg);
      if (thumbs.has(msg.shot)) { thumbs.get(msg.shot).remove(); thumbs.delete(msg.shot); }
      return;
    }
    if (msg.code === "reconstruction_failed") {
      const dev = state.dev;
      if (dev && dev.shot === msg.shot && !dev.done) failed(dev, msg);
      if (thumbs.has(msg.shot)) thumbs.get(msg.shot).title = "the original (recorded): " + msg.message;
      return;
    }
    if (/shot|expected_binary/.test(msg.code + msg.message) && state.awaiting.length) {
      // The oldest pressed shot was not saved.
      const dev = state.awaiting.shift();
      if (dev === state.dev) resume(800);
    }
  }

  // Show the next stage once it has arrived and the current one has been on screen long enough.
  async function pump(dev) {
    if (dev !== state.dev || dev.busy || dev.done) return;
    const msg = dev.stages.get(dev.next);
    if (!msg) return;
    const wait = dev.lastAt + state.dwellMs - performance.now();
    dev.busy = true;
    if (wait > 0) {
      setTimeout(() => { dev.busy = false; pump(dev); }, wait);
      return;
    }
    let layer = null;
    try {
      layer = await makeLayer(msg);
    } catch (err) {
      layer = null; // an image that does not decode: keep what is on screen
    }
    dev.busy = false;
    if (dev !== state.dev) return;
    dev.next += 1;
    display(dev, msg, layer);
    pump(dev);
  }

  async function makeLayer(msg) {
    if (msg.stage === "placeholder") {
      const spec = msg.placeholder || { kind: "card", colour: "#1b1f27", text: "Reconstructing…" };
      const layer = el("div", "layer placeholder " + (spec.kind === "colour" ? "colour" : "card"));
      layer.style.background = spec.colour || "#1b1f27";
      if (spec.kind !== "colour") {
        const card = el("div", "ph-card");
        card.append(el("span", "spinner"), el("span", "ph-text", spec.text || "Reconstructing…"));
        layer.append(card);
      }
      return layer;
    }
    if (!msg.image) return null;
    const img = new Image();
    img.alt = STAGE_TITLES[msg.stage] || msg.stage;
    img.src = msg.image;
    if (img.decode) await img.decode(); // fade in a picture, never a blank
    const layer = el("div", "layer picture");
    layer.append(img);
    return layer;
  }

  function display(dev, msg, layer) {
    const now = performance.now();
    if (msg.stage !== "original") {
      const old = [...develop.children];
      if (layer) {
        develop.append(layer);
        void layer.offsetWidth; // start the transition from opacity 0
        layer.classList.add("in");
      } else {
        old.forEach((o) => o.classList.remove("in")); // back to the frozen original underneath
      }
      setTimeout(() => old.forEach((o) => o !== layer && layer && o.remove()), state.fadeMs + 60);
    }
    if (msg.stage === "preview") dev.previews += 1;
    dev.lastAt = now;
    const entry = { shot: dev.shot, stage: msg.stage, index: msg.index, at: now };
    dev.entries.push(entry);
    state.shown.push(entry);
    root.dataset.stage = msg.stage;
    const title = titleOf(dev, msg);
    setCaption(dev, msg);
    addTimeline(dev, msg, title, now);
    if (msg.stage === "reconstruction") {
      recordedThumb(msg);
      finished(dev, msg);
    }
  }

  function titleOf(dev, msg) {
    if (msg.stage === "reconstruction" && msg.recorded === "original") return "Original (recorded)";
    if (msg.stage === "preview" && dev.previews > 1) return `${STAGE_TITLES.preview} ${dev.previews}`;
    return STAGE_TITLES[msg.stage] || msg.stage;
  }

  function finished(dev, msg) {
    dev.done = true;
    if (msg.message) toast(msg.message, msg.recorded === "original" ? "info" : "warn", 8000);
    offerVerdict(msg);
    offerResume(msg.recorded === "reconstruction" ? state.resumeAfterMs : state.resumeAfterOriginalMs);
  }

  // --- accept / reject right after the shot ([0092]); the shot page offers the same ----------
  let verdictShot = null;
  function offerVerdict(msg) {
    verdictShot = msg.shot;
    result.link.href = msg.page || "#";
    const judged = msg.recorded === "reconstruction";
    result.verdict.hidden = !judged;
    result.verdict.dataset.verdict = "";
    result.accept.disabled = result.reject.disabled = !judged;
  }

  async function giveVerdict(verdict) {
    const shot = verdictShot;
    if (!shot) return;
    result.accept.disabled = result.reject.disabled = true;
    const body = new URLSearchParams({ verdict });
    try {
      const resp = await fetch(`/shots/${shot}/feedback/`, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRFToken": root.dataset.csrf, Accept: "application/json" },
      });
      const answer = await resp.json();
      if (!resp.ok) throw new Error(answer.error || resp.statusText);
      result.verdict.dataset.verdict = verdict;
      toast(answer.message, verdict === "accepted" ? "ok" : "info", 6000);
      if (verdict === "rejected" && thumbs.has(shot)) {
        const link = thumbs.get(shot);
        link.classList.remove("developed");
        link.title = "the original (recorded): you rejected the reconstruction";
      }
    } catch (err) {
      result.accept.disabled = result.reject.disabled = false;
      toast(`Your answer was not saved: ${err.message}`, "bad", 6000);
    }
  }
  result.accept.addEventListener("click", () => giveVerdict("accepted"));
  result.reject.addEventListener("click", () => giveVerdict("rejected"));

  function failed(dev, msg) {
    dev.done = true;
    develop.querySelectorAll(".layer").forEach((o) => o.classList.remove("in"));
    const entry = { stage: "reconstruction", index: dev.next, shot: dev.shot, recorded: "original", note: msg.message };
    root.dataset.stage = "failed";
    setCaption(dev, entry);
    offerResume(state.resumeAfterOriginalMs);
  }

  function offerResume(ms) {
    resumeBtn.hidden = false;
    switchBtn.hidden = true;
    clearTimeout(resumeTimerId);
    resumeBtn.classList.remove("counting");
    if (ms > 0) {
      resumeTimer.style.animationDuration = ms + "ms";
      void resumeBtn.offsetWidth;
      resumeBtn.classList.add("counting");
      resumeTimerId = setTimeout(() => resume(0), ms);
    }
  }

  // --- captions and the intention panel -----------------------------------------------------
  const pct = (x) => `${Math.round(x * 100)} %`;
  const fmt = (x) => (x === null || x === undefined ? "—" : Number(x).toFixed(2));

  function modelsText(dev, msg) {
    const versions = (dev.plan && dev.plan.models) || {};
    const groups = (msg.groups || []).map((g) => (versions[g] ? `${g} v${versions[g]}` : g));
    if (!groups.length) return "";
    let text = groups.join(" + ");
    if (msg.strength !== undefined && msg.strength < 0.999) text += ` at ${pct(msg.strength)}`;
    if (msg.regions && msg.regions.length) text += ` · regions: ${msg.regions.join(", ")}`;
    return text;
  }

  function changesText(dev, msg) {
    const before = (dev.original && dev.original.degrees) || (dev.saved && dev.saved.elements) || {};
    const after = msg.degrees || {};
    const moves = [];
    for (const [name, b] of Object.entries(after)) {
      const a = before[name];
      if (a === null || a === undefined || b === null || b === undefined) continue;
      if (Math.abs(b - a) >= 0.03) moves.push([Math.abs(b - a), `${(labels[name] || name).toLowerCase()} ${fmt(a)}→${fmt(b)}`]);
    }
    moves.sort((x, y) => y[0] - x[0]);
    // What was measured on this image, beside the rule's asks above: the two differ when a model
    // falls short of its target, and unlabelled they read as a contradiction.
    return moves.length ? "measured: " + moves.slice(0, 4).map((m) => m[1]).join(" · ") : "";
  }

  function divergenceText(d) {
    if (!d) return "";
    const parts = [`divergence ${fmt(d.score)}`];
    if (d.changed !== null && d.changed !== undefined) parts.push(`${(d.changed * 100).toFixed(1)} % of the frame changed`);
    let verdict = d.diverged ? "diverges from the original" : "close to the original";
    if (d.exceeded && d.exceeded.length) verdict += ` (${d.exceeded.map((n) => (labels[n] || n).toLowerCase()).join(", ")})`;
    parts.push(verdict);
    return parts.join(" · ");
  }

  function setCaption(dev, msg) {
    caption.box.hidden = false;
    caption.box.dataset.stage = msg.stage;
    caption.title.textContent = titleOf(dev, msg);
    caption.models.textContent = modelsText(dev, msg);
    let note = msg.note || "";
    if (msg.stage === "original") {
      const plan = dev.plan;
      if (!dev.shot) note = "the shot as taken · saving…";
      else if (!plan) note = "the shot as taken · saved · working out the intention…";
      else if (plan.rule.steps.length) {
        note = `the shot as taken · developing with ${plan.rule.steps.map((s) => s.group).join(", ")}…`;
      } else note = "the shot as taken";
    }
    if (msg.stage === "reconstruction" && msg.failed && msg.failed.length) {
      note += (note ? " · " : "") + msg.failed.map((f) => `${f.group} not applied: ${f.reason}`).join(" · ");
    }
    if (msg.stage === "reconstruction" && msg.raised && msg.raised.length) {
      // The smile asked did not read as a smile: a bigger one was asked.
      note += (note ? " · " : "") + msg.raised.map((r) => `${r.group}: a bigger ${r.element.split(".").pop()} was asked (${r.from.toFixed(2)} → ${r.to.toFixed(2)})`).join(" · ");
    }
    if (msg.stage === "reconstruction" && msg.left_out && msg.left_out.length) {
      // The self-check left these edits out of the recorded photo: say which and why.
      note += (note ? " · " : "") + msg.left_out.map((l) => `${l.group} left out: ${l.why}`).join(" · ");
    }
    caption.note.textContent = note;
    caption.changes.textContent = msg.stage === "original" ? "" : changesText(dev, msg);
    const unchanged = msg.stage === "reconstruction" && msg.recorded === "original";
    caption.divergence.textContent = msg.stage === "original" || msg.stage === "placeholder" || unchanged ? "" : divergenceText(msg.divergence);
    caption.box.classList.toggle("diverged", !!(msg.divergence && msg.divergence.diverged));
  }

  function renderPlan(plan) {
    const it = plan.intention;
    result.box.hidden = false;
    result.intention.replaceChildren(
      el("strong", "intention-label", it.label),
      el("span", "pill source-" + it.source, SOURCES[it.source] || it.source),
      el("span", "confidence", `confidence ${pct(it.confidence)}`),
    );
    result.intention.dataset.name = it.name;
    result.intention.dataset.source = it.source;
    result.reasons.replaceChildren(...(it.reasons || []).map((r) => el("li", "", r)));
    const rule = el("div", "rule");
    if (plan.rule.steps.length) {
      const list = el("ul", "steps");
      for (const step of plan.rule.steps) {
        const li = el("li", "", "");
        li.append(el("strong", "", step.group + (plan.models[step.group] ? ` v${plan.models[step.group]}` : "")));
        const moves = Object.entries(step.targets).map(([n, t]) => {
          const label = (labels[n] || n).toLowerCase();
          const ideal = step.ideal && step.ideal[n] !== undefined && Math.abs(step.ideal[n] - t) > 0.005 ? ` (the intention's ideal ${fmt(step.ideal[n])}, as far as your models go)` : "";
          return `${label} ${fmt(step.current && step.current[n])}→${fmt(t)}${ideal}`;
        });
        li.append(document.createTextNode(" asks " + moves.join(" · ")));
        // Why this shot held a target back (a reframing can only show what the frame holds).
        const limits = Object.values(step.limited || {});
        if (limits.length) li.append(el("div", "limited small muted", limits.join(" · ")));
        const learned = Object.values(step.learned || {});
        if (learned.length) li.append(el("div", "learned small muted", learned.join(" · ")));
        list.append(li);
      }
      rule.append(el("h3", "", `Models, in order · preview mode ${plan.mode}`), list);
    } else {
      rule.append(el("p", "muted", "No model to apply for this shot."));
    }
    if (plan.rule.skipped.length) {
      const skipped = el("ul", "skipped");
      for (const s of plan.rule.skipped) {
        const li = el("li", "");
        li.dataset.group = s.group;
        li.append(el("strong", "", s.group + ":"), document.createTextNode(" " + s.reason));
        skipped.append(li);
      }
      rule.append(el("h3", "", "Skipped"), skipped);
    }
    result.rule.replaceChildren(rule);
  }

  function addTimeline(dev, msg, title, now) {
    if (msg.stage === "original") {
      result.timeline.replaceChildren();
      result.intention.replaceChildren(el("span", "muted", "Working out the intention…"));
      result.reasons.replaceChildren();
      result.rule.replaceChildren();
      result.box.hidden = false;
    }
    const li = el("li", "stage-" + msg.stage);
    li.append(el("span", "t-name", title), el("span", "t-time", `${((now - dev.shutterAt) / 1000).toFixed(1)} s`));
    result.timeline.append(li);
  }

  // --- keys ---------------------------------------------------------------------------------
  shutterBtn.addEventListener("click", shoot);
  document.addEventListener("keydown", (ev) => {
    const tag = document.activeElement ? document.activeElement.tagName : "";
    if (ev.code === "Space" && !/INPUT|TEXTAREA|BUTTON|SELECT/.test(tag)) {
      ev.preventDefault();
      shoot();
    } else if (ev.key === "Escape" && !resumeBtn.hidden && !/INPUT|TEXTAREA|SELECT/.test(tag)) {
      resume(0);
    }
  });
  // The space bar on a focused shutter button would click it twice (keydown + click).
  shutterBtn.addEventListener("keydown", (ev) => { if (ev.code === "Space") { ev.preventDefault(); shoot(); } });

  connect();
  startCamera();
})();
