// A single-page app in a few lines: every path that is not a file gets index.html from the
// edge (custom_error_responses in examples/s3-site.yaml) and this script renders the route.
"use strict";

const routes = {
  "/": null, // keep the page's own text
  "/index.html": null,
  "/about": "<p>About: a static site in an S3 bucket, signed with SigV4 by Portico as " +
    "CloudFront's Origin Access Control would sign it.</p>",
};

function render() {
  const view = document.getElementById("view");
  const path = location.pathname;
  if (path in routes) {
    if (routes[path] !== null) view.innerHTML = routes[path];
    return;
  }
  view.textContent = "Client-side route " + path + ": the edge answered with index.html " +
    "(status 200) because the bucket has no such object.";
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a");
  if (!link || link.origin !== location.origin || link.pathname.startsWith("/api/")) return;
  event.preventDefault();
  history.pushState(null, "", link.pathname);
  render();
});
window.addEventListener("popstate", render);
render();
