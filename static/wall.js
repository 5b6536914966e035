// The wall display: fit each list to its panel (rows that do not fit are hidden and counted in
// "+N more"), keep the clock running in the clinic's time zone, and say how old the figures are
// while the event stream is down. The page itself re-fetches #wall on events (htmx).
(function () {
  "use strict";

  var lastUpdate = Date.now();

  function fitPanel(panel) {
    var box = panel.querySelector(".wall-fit");
    var more = panel.querySelector(".wall-more");
    if (!box || !more) { return; }
    var rows = box.querySelectorAll("tbody tr");
    var extra = parseInt(more.getAttribute("data-extra"), 10) || 0;
    var hidden = 0;
    rows.forEach(function (row) { row.hidden = false; });
    for (var i = rows.length - 1; i >= 0 && box.scrollHeight > box.clientHeight + 1; i--) {
      rows[i].hidden = true;
      hidden++;
    }
    more.textContent = "+" + (extra + hidden) + " more";
    more.toggleAttribute("data-empty", extra + hidden === 0);
  }

  function fitAll() {
    document.querySelectorAll(".wall-panel").forEach(fitPanel);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function minutesText(minutes) {
    if (minutes < 1) { return "less than 1 min ago"; }
    if (minutes < 60) { return minutes + " min ago"; }
    var rest = minutes % 60;
    return Math.floor(minutes / 60) + " h" + (rest ? " " + rest + " min" : "") + " ago";
  }

  function tick() {
    var wall = document.getElementById("wall");
    var clock = document.getElementById("wall-clock");
    if (wall && clock) {
      var offset = parseInt(wall.getAttribute("data-utc-offset"), 10) || 0;
      var local = new Date(Date.now() + offset * 60000);
      clock.textContent = pad(local.getUTCHours()) + ":" + pad(local.getUTCMinutes());
    }
    var age = document.getElementById("wall-stale-age");
    if (age) { age.textContent = minutesText(Math.floor((Date.now() - lastUpdate) / 60000)); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.body.classList.contains("wall")) { return; }
    fitAll();
    tick();
    setInterval(tick, 5000);
    window.addEventListener("resize", fitAll);
    // The only region that swaps here is #wall: every settle is fresh figures.
    document.body.addEventListener("htmx:afterSettle", function () {
      lastUpdate = Date.now();
      fitAll();
      tick();
    });
  });
})();
