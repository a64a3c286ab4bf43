// The shooting page: webcam -> JPEG frames over the socket -> live meters and face boxes;
// shutter freezes the frame at once (no round trip) and sends it as the shot.
// Protocol: capture/protocol.py.
(() => {
  "use strict";

  const root = document.getElementById("shoot");
  const video = document.getElementById("video");
  const overlay = document.getElementById("overlay");
  const frozen = document.getElementById("frozen");
  const stage = document.getElementById("stage");
  const stageMsg = document.getElementById("stage-msg");
  const toastEl = document.getElementById("toast");
  const statusEl = document.getElementById("status");
  const shutterBtn = document.getElementById("shutter");
  const switchBtn = document.getElementById("switch-camera");
  const perfEl = document.getElementById("perf");
  const recentEl = document.getElementById("recent");

  const SEND_WIDTH = 640;        // live frames are analysed at this width
  const MIN_INTERVAL_MS = 100;   // at most 10 frames a second
  const RESEND_AFTER_MS = 1000;  // an answer lost for this long frees the next frame
  const SHOT_MAX_W = 1920, SHOT_MAX_H = 1080;

  const meters = new Map();
  document.querySelectorAll(".meter").forEach((el) => meters.set(el.dataset.element, el));

  const state = {
    ws: null, stream: null, facing: "user", inFlight: false, sentAt: 0, frames: 0,
    frozen: false, shots: 0, lastRtt: 0, lastMs: 0, errors: [],
  };
  window.fluxShoot = state; // read by the browser test and handy in the console

  const grab = document.createElement("canvas");
  const grabCtx = grab.getContext("2d");

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.dataset.state = kind;
  }

  let toastTimer = null;
  function toast(text, kind, ms) {
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
        setStatus("live", "live");
        shutterBtn.disabled = !state.stream;
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
      case "error":
        state.errors.push(msg);
        if (msg.code !== "flood") state.inFlight = false;
        toast(msg.message, "bad", 4000);
        if (state.frozen && /shot|expected_binary/.test(msg.code + msg.message)) unfreeze(800);
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
    switchBtn.hidden = devices.filter((d) => d.kind === "videoinput").length < 2 && !/Mobi|Android/i.test(navigator.userAgent);
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

  function showDegrees(msg) {
    for (const [name, el] of meters) {
      const v = msg.elements[name];
      const fill = el.querySelector(".meter-fill");
      const val = el.querySelector(".meter-value");
      if (v === null || v === undefined) {
        el.classList.add("absent");
        val.textContent = "—";
      } else {
        el.classList.remove("absent");
        fill.style.width = (v * 100).toFixed(1) + "%";
        val.textContent = v.toFixed(2);
      }
    }
    drawFaces(msg.faces);
    perfEl.textContent = `server ${msg.ms.toFixed(0)} ms · round trip ${state.lastRtt.toFixed(0)} ms · ${msg.faces.length} face(s)`;
  }

  function drawFaces(faces) {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w) return;
    if (overlay.width !== w || overlay.height !== h) { overlay.width = w; overlay.height = h; }
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    ctx.lineWidth = Math.max(2, w / 320);
    for (const f of faces) {
      const [x, y, bw, bh] = f.box;
      ctx.strokeStyle = f.main ? "#ffb347" : "#5ad1c8";
      ctx.strokeRect(x * w, y * h, bw * w, bh * h);
    }
  }

  // --- shutter ------------------------------------------------------------------------------
  function shoot() {
    if (shutterBtn.disabled || state.frozen || !video.videoWidth) return;
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    // Freeze first: the frame on screen is the shot, with no round trip.
    const scale = Math.min(1, SHOT_MAX_W / Math.max(video.videoWidth, video.videoHeight), SHOT_MAX_H / Math.min(video.videoWidth, video.videoHeight));
    frozen.width = Math.round(video.videoWidth * scale);
    frozen.height = Math.round(video.videoHeight * scale);
    frozen.getContext("2d").drawImage(video, 0, 0, frozen.width, frozen.height);
    frozen.hidden = false;
    state.frozen = true;
    root.dataset.frozen = "true";
    toast("Saving…", "", 0);
    frozen.toBlob((blob) => {
      if (!blob) { toast("Could not capture the frame", "bad", 3000); unfreeze(0); return; }
      blob.arrayBuffer().then((buf) => {
        ws.send(JSON.stringify({ type: "shutter" }));
        ws.send(buf);
      });
    }, "image/jpeg", 0.92);
  }

  function unfreeze(delay) {
    setTimeout(() => {
      frozen.hidden = true;
      state.frozen = false;
      root.dataset.frozen = "false";
    }, delay);
  }

  function onShotSaved(msg) {
    state.shots += 1;
    root.dataset.shots = String(state.shots);
    const link = document.createElement("a");
    link.href = msg.shot.url;
    link.target = "_blank";
    const img = document.createElement("img");
    img.src = msg.shot.url;
    img.alt = "shot " + msg.shot.created_at;
    link.appendChild(img);
    recentEl.prepend(link);
    if (msg.elsewhere) {
      toast("Saved a shot from your other device", "ok", 2500);
      return;
    }
    toast("Saved ✓", "ok", 2500);
    unfreeze(1200);
  }

  shutterBtn.addEventListener("click", shoot);
  document.addEventListener("keydown", (ev) => {
    if (ev.code === "Space" && !/INPUT|TEXTAREA|BUTTON/.test(document.activeElement.tagName)) {
      ev.preventDefault();
      shoot();
    }
  });
  // The space bar on a focused shutter button would click it twice (keydown + click).
  shutterBtn.addEventListener("keydown", (ev) => { if (ev.code === "Space") { ev.preventDefault(); shoot(); } });

  connect();
  startCamera();
})();
