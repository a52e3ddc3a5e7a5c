// wharf sample script: served as text/javascript from /samples/app.js
"use strict";

(function () {
  function formatBytes(n) {
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  ready(function () {
    const status = document.getElementById("status");
    if (!status) return;
    const entry = performance.getEntriesByType("resource")
      .find(function (e) { return e.name.endsWith("/app.js"); });
    const size = entry && entry.transferSize ? " (" + formatBytes(entry.transferSize) + " transferred)" : "";
    status.textContent =
      "JavaScript ran at " + new Date().toLocaleTimeString() + ". app.js was served by wharf" + size + ".";
    status.className = "ok";
  });
})();
