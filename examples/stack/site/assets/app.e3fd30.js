// The demo single-page app (examples/stack): a client-side router and a live view of the API
// behind the load balancer. Every path that is not an object in the bucket reaches the browser as
// index.html with status 200 (the distribution's custom_error_responses: 403/404 -> /index.html),
// and render() draws the route. The file name carries a content hash, as bundlers name assets,
// so the edge may cache it for a year: a new build is a new name, never a stale copy.
"use strict";

const views = {
  "/": "home",
  "/index.html": "home",
  "/architecture": "architecture",
  "/zones": "zones",
};

function show(name) {
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.dataset.view !== name;
  }
}

function render() {
  const path = location.pathname;
  const name = views[path];
  if (name) {
    show(name);
    if (name === "zones") sample(10);
    return;
  }
  show("route");
  document.getElementById("route-path").textContent = path;
}

// Asks /api/whoami `n` times (the behavior uses Managed-CachingDisabled, so every request goes
// through the load balancer to one of the two targets) and counts the answers per zone.
async function sample(n) {
  const out = document.getElementById("zones-out");
  const counts = {};
  let failed = 0;
  out.textContent = "asking the API " + n + " times...";
  for (let i = 0; i < n; i++) {
    try {
      const response = await fetch("/api/whoami", { cache: "no-store" });
      if (!response.ok) {
        failed++;
        continue;
      }
      const body = await response.json();
      counts[body.zone] = (counts[body.zone] || 0) + 1;
    } catch (e) {
      failed++;
    }
  }
  const lines = Object.keys(counts).sort().map((zone) => zone + ": " + counts[zone]);
  if (failed) lines.push("failed: " + failed);
  out.textContent = lines.join("\n") || "no answer";
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-sample]");
  if (button) {
    sample(Number(button.dataset.sample));
    return;
  }
  const link = event.target.closest("a");
  if (!link || link.origin !== location.origin || link.pathname.startsWith("/api/")) return;
  event.preventDefault();
  history.pushState(null, "", link.pathname);
  render();
});
window.addEventListener("popstate", render);
render();
