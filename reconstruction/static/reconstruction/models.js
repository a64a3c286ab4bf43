// Live training progress on "My models": polls the user's runs once a second while any is
// queued or running, and reloads the page when one finishes so the new version shows.
(() => {
  "use strict";
  const root = document.getElementById("models");
  const url = root.dataset.runsUrl;
  const live = (s) => s === "queued" || s === "running";

  function fmt(run) {
    const parts = [run.status === "waiting" ? "waiting for data" : run.status];
    if (run.total) parts.push(`step ${run.step}/${run.total}`);
    if (run.loss !== null && run.status === "running") parts.push(`loss ${run.loss}`);
    if (run.seconds_left !== null) parts.push(`about ${Math.ceil(run.seconds_left)} s left`);
    if (run.message) parts.push(run.message);
    return parts.join(" · ");
  }

  async function poll() {
    let data;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.statusText);
      data = await response.json();
    } catch (err) {
      setTimeout(poll, 3000);
      return;
    }
    let anyLive = false;
    let finished = false;
    for (const run of data.runs) {
      const section = root.querySelector(`.model-group[data-group="${run.group}"]`);
      if (!section) continue;
      const box = section.querySelector(".progress");
      const was = box.dataset.status;
      box.hidden = run.status === "succeeded" && !live(was);
      box.dataset.status = run.status;
      box.dataset.run = run.id;
      box.querySelector(".progress-bar span").style.width = run.total ? `${(100 * run.step) / run.total}%` : "0%";
      box.querySelector(".progress-text").textContent = fmt(run);
      section.querySelector(".train-button").disabled = live(run.status);
      if (live(run.status)) anyLive = true;
      if (live(was) && !live(run.status)) finished = true;
    }
    if (finished) { location.reload(); return; }
    setTimeout(poll, anyLive ? 1000 : 5000);
  }
  poll();
})();
