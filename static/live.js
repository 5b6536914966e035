// Live updates: one EventSource per page (htmx-ext-sse on <body sse-connect="/stream">).
// Regions with hx-trigger="sse:order-changed" re-fetch themselves through their normal GET.
// This script adds what the extension lacks: it resumes from the last event seen (also when the
// extension opens a brand-new EventSource), shows "Reconnecting…" while the stream is down,
// skips refreshes meant for other orders, and never wipes a form the user is filling in.
(function () {
  "use strict";
  if (!window.htmx) { return; }

  var lastEventId = null;
  var downTimer = null;
  var wasDown = false;

  function setLive(up) {
    document.body.classList.toggle("live-down", !up);
    document.body.classList.toggle("live-up", up);
  }

  htmx.createEventSource = function (url) {
    if (lastEventId === null) { lastEventId = document.body.getAttribute("data-live-cursor"); }
    var target = new URL(url, window.location.href);
    if (lastEventId) { target.searchParams.set("last_event_id", lastEventId); }
    var source = new EventSource(target.toString(), { withCredentials: true });
    source.addEventListener("order-changed", function (event) {
      if (event.lastEventId) { lastEventId = event.lastEventId; }
    });
    source.addEventListener("open", function () {
      clearTimeout(downTimer);
      downTimer = null;
      setLive(true);
      if (wasDown) {
        wasDown = false;
        htmx.trigger(document.body, "live-reconnected");
      }
    });
    source.addEventListener("error", function () {
      wasDown = true;
      // A planned reconnect takes a moment; only say "Reconnecting" if it lasts.
      if (downTimer === null) { downTimer = setTimeout(function () { setLive(false); }, 1200); }
    });
    return source;
  };

  function isBeingEdited(region) {
    var fields = region.querySelectorAll("input:not([type=hidden]), textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field === document.activeElement) { return true; }
      if (field.tagName === "SELECT") {
        for (var j = 0; j < field.options.length; j++) {
          if (field.options[j].selected !== field.options[j].defaultSelected) { return true; }
        }
      } else if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) { return true; }
      } else if (field.value !== field.defaultValue) {
        return true;
      }
    }
    var open = region.querySelector("details[open]");
    return open !== null && open.querySelector("form") !== null;
  }

  document.addEventListener("htmx:confirm", function (event) {
    var region = event.detail.elt;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-live-refresh")) { return; }
    var trigger = event.detail.triggeringEvent;
    if (!trigger || typeof trigger.type !== "string") { return; }
    var live = trigger.type.indexOf("sse:") === 0 || trigger.type === "live-reconnected" || trigger.type === "every";
    if (!live) { return; }
    // data-live-match="visit_id=<uuid>": only events about that visit (or order, or patient).
    var match = region.getAttribute("data-live-match");
    if (match && trigger.detail && typeof trigger.detail.data === "string") {
      var pair = match.split("=");
      try {
        if (String(JSON.parse(trigger.detail.data)[pair[0]]) !== pair[1]) { event.preventDefault(); return; }
      } catch (ignored) { /* not JSON: refresh */ }
    }
    if (isBeingEdited(region)) { event.preventDefault(); }
  });

  // Live re-fetches say so: they do not count as the user's activity (idle sign-out still works).
  document.addEventListener("htmx:configRequest", function (event) {
    var trigger = event.detail.triggeringEvent;
    var type = trigger && typeof trigger.type === "string" ? trigger.type : "";
    var region = event.detail.elt;
    var polling = !trigger && region && region.hasAttribute && region.hasAttribute("data-live-refresh");
    if (type.indexOf("sse:") === 0 || type === "live-reconnected" || polling) {
      event.detail.headers["X-Live-Refresh"] = "1";
    }
  });

  // The tablet's "Complete scan": one tap, then a confirmation naming the number of images.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-confirm-complete")) { return; }
    var images = form.querySelector("input[name=number_of_images]");
    if (!images || images.value === "") { return; }
    event.preventDefault();
    var text = "Complete the scan of " + form.getAttribute("data-confirm-complete") + " with " + images.value + " image(s)?";
    if (window.confirm(text)) { event.detail.issueRequest(true); }
  });
})();
