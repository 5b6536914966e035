// A doctor's tab that is hidden (another tab, another window, minimised) raises a browser
// notification when the critical-result banner (templates/reporting/_critical_banner.html) gains a
// result, or one of its results is escalated. The banner re-fetches itself on the critical-result
// event of /stream; this script only watches what the banner shows, so it needs nothing of its own
// from the server and works whatever carries the event to the tab.
//
// Permission is asked once, at the doctor's first click on a page (browsers ask for a user
// gesture); the answer is the browser's to keep, and "asked" is remembered in localStorage.
// The notification names the accession number only: it may show on a locked screen, so no
// patient name. Its tag is the critical result's, so several hidden tabs make one notification.
(function () {
  "use strict";
  if (!("Notification" in window)) { return; }
  var ASKED = "critical-notify-asked";
  var shown = {};

  function alerts() {
    return Array.prototype.slice.call(document.querySelectorAll("#critical-banner .critical-alert[data-critical-id]"));
  }

  function key(alert) {
    return alert.getAttribute("data-critical-id") + (alert.getAttribute("data-escalated") === "true" ? ":escalated" : "");
  }

  function remember() { alerts().forEach(function (alert) { shown[key(alert)] = true; }); }

  function notify(alert) {
    var escalated = alert.getAttribute("data-escalated") === "true";
    var accession = alert.getAttribute("data-accession");
    var note = new Notification(escalated ? "Critical result escalated" : "Critical result", {
      body: (escalated ? "Still not acknowledged: " : "Acknowledge the critical result of ") + accession,
      tag: "critical-" + alert.getAttribute("data-critical-id") + (escalated ? "-escalated" : ""),
      requireInteraction: true,
    });
    var href = alert.getAttribute("data-href");
    note.onclick = function () { window.focus(); if (href) { window.location.href = href; } note.close(); };
  }

  function check() {
    var fresh = alerts().filter(function (alert) { return !shown[key(alert)]; });
    fresh.forEach(function (alert) {
      shown[key(alert)] = true;
      if (document.visibilityState !== "visible" && Notification.permission === "granted") { notify(alert); }
    });
  }

  function ask() {
    document.removeEventListener("click", ask, true);
    var stored;
    try { stored = window.localStorage.getItem(ASKED); } catch (e) { stored = "1"; }
    if (stored || Notification.permission !== "default") { return; }
    try { window.localStorage.setItem(ASKED, "1"); } catch (e) { /* private mode: asked this page only */ }
    Notification.requestPermission();
  }

  document.addEventListener("DOMContentLoaded", remember);
  document.addEventListener("htmx:afterSettle", check);
  document.addEventListener("click", ask, true);
})();
