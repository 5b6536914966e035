// Live updates: htmx-ext-sse on <body sse-connect="/stream">, fed from the browser's one shared
// connection (static/live-share.js: a SharedWorker, else a leader tab; one EventSource per page only
// where the browser has neither).
// Regions with data-live-refresh and hx-trigger="sse:order-changed, …" re-fetch themselves
// through their normal GET (hx-get). This script adds what the extension lacks: it resumes from
// the last event seen (also when the extension opens a brand-new EventSource), shows
// "Reconnecting…" while the stream is down, skips events a region does not show
// (data-live-match, data-live-filter), spreads and coalesces the re-fetches (a random delay of
// 50 ms up to the event's spread_ms, 250 to 1500 ms by how many screens are open, else the last
// event's, at first 250; one
// re-fetch in flight per region, then a quiet time: data-live-quiet, 400 ms unless said), and
// never wipes a form the user is filling in. Every GET of a region (an event, a
// reconnect, an "every 30s" poll) goes through that one queue: htmx's own queue would hold a
// second request for a region with one in flight and then drop it, because the first answer
// replaces the element it belongs to, so an event heard meanwhile was never shown.
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
    var source;
    if (window.LiveShare) {
      // One connection per browser, shared by its tabs (static/live-share.js).
      source = LiveShare.open(url, { cursor: lastEventId, scope: document.body.getAttribute("data-live-scope"),
        worker: document.body.getAttribute("data-live-worker") });
    } else {
      var target = new URL(url, window.location.href);
      if (lastEventId) { target.searchParams.set("last_event_id", lastEventId); }
      source = new EventSource(target.toString(), { withCredentials: true });
    }
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

  // ---------------------------------------------------------------- which events concern a region

  function eventData(trigger) {
    if (!trigger.detail || typeof trigger.detail.data !== "string") { return null; }
    try {
      var data = JSON.parse(trigger.detail.data);
      return data !== null && typeof data === "object" ? data : null;
    } catch (ignored) { return null; }  // not JSON: refresh
  }

  // One clause of data-live-filter: "status|from_status=scheduled,in_progress" holds when any of
  // the named fields has one of the values. An event that carries none of the fields (an older
  // server, a replay) holds too: when in doubt, refresh.
  function clauseHolds(clause, data) {
    var eq = clause.indexOf("=");
    if (eq < 0) { return true; }
    var fields = clause.slice(0, eq).split("|");
    var values = clause.slice(eq + 1).split(",").map(function (v) { return v.trim(); });
    var known = false;
    for (var i = 0; i < fields.length; i++) {
      var name = fields[i].trim();
      if (!Object.prototype.hasOwnProperty.call(data, name)) { continue; }
      known = true;
      if (data[name] !== null && values.indexOf(String(data[name])) >= 0) { return true; }
    }
    return !known;
  }

  function concerns(region, data) {
    if (data === null) { return true; }
    // data-live-match="visit_id=<uuid>": only events about that visit (or order, or patient).
    var match = region.getAttribute("data-live-match");
    if (match) {
      var pair = match.split("=");
      if (String(data[pair[0]]) !== pair[1]) { return false; }
    }
    // data-live-filter="modality|from_modality=CT; status|from_status=scheduled,in_progress":
    // only events that can touch what the region shows (every clause holds).
    var filter = region.getAttribute("data-live-filter");
    if (!filter) { return true; }
    var clauses = filter.split(";");
    for (var i = 0; i < clauses.length; i++) {
      if (clauses[i].trim() && !clauseHolds(clauses[i], data)) { return false; }
    }
    return true;
  }

  // ---------------------------------------------------------------- when a region re-fetches

  // Re-fetches spread over a random 50 ms to the event's spread_ms after it, so that the screens
  // of a department do not all ask the workers at once. An event says how wide (spread_ms: the
  // server sets it by how many screens are open, webapp/events/publishing.py): a burst of 80
  // screens' re-fetches queued on two cores for longer than the spread (bench/README.md).
  var SPREAD_MS = [250, 1500];  // default (and least), most
  var QUIET_MS = 400;         // after a re-fetch, events wait this long (data-live-quiet)
  var states = {};            // by region id: a region's outerHTML swap keeps its state

  function quietOf(region) {
    var value = parseInt(region.getAttribute("data-live-quiet"), 10);
    return isNaN(value) ? QUIET_MS : value;
  }

  function stateOf(id) {
    return states[id] || (states[id] = { timer: null, busy: false, dirty: false, doneAt: 0, own: 0, ownSince: 0,
      pressedAt: 0 });
  }

  // The user's own request from inside the region (a tap on Start) is in flight; a bound, in case
  // its end is never heard of.
  function ownInFlight(state) {
    return state.own > 0 && Date.now() - state.ownSince < 15000;
  }

  // The spread the last event gave: a reconnect's re-fetches (every screen of a restarted worker
  // at once) and a replay's events (which do not say) spread as widely.
  var lastSpread = SPREAD_MS[0];

  function spreadOf(data) {
    if (data !== null && typeof data.spread_ms === "number") {
      lastSpread = Math.min(SPREAD_MS[1], Math.max(SPREAD_MS[0], data.spread_ms));
    }
    return lastSpread;
  }

  // A re-fetch is coming (it will show this event too), or one is in flight (one more follows
  // it), or the region is quiet after the last one (the next waits the quiet time out).
  function schedule(id, region, spread) {
    var state = stateOf(id);
    if (state.timer !== null) { return; }
    if (state.busy) { state.dirty = true; return; }
    // data-live-urgent (the critical banner): rare and urgent news is fetched at once.
    var most = spread || lastSpread;
    var wait = region.hasAttribute("data-live-urgent") ? 0 : 50 + Math.random() * (most - 50);
    wait = Math.max(wait, state.doneAt + quietOf(region) - Date.now());
    state.timer = setTimeout(function () { refetch(id, state); }, wait);
  }

  function refetch(id, state) {
    state.timer = null;
    var region = document.getElementById(id);
    if (!region || !region.hasAttribute("data-live-refresh") || !region.getAttribute("hx-get")) { return; }
    state.busy = true;
    state.dirty = false;
    var finished = function () {
      state.busy = false;
      state.doneAt = Date.now();
      var now = document.getElementById(id);
      if (state.dirty && now) { state.dirty = false; schedule(id, now); }
    };
    var request = htmx.ajax("GET", region.getAttribute("hx-get"), {
      source: region, target: region, swap: "outerHTML", event: { type: "live-refresh" },
    });
    if (request && typeof request.then === "function") { request.then(finished, finished); } else { finished(); }
  }

  document.addEventListener("htmx:confirm", function (event) {
    var region = event.detail.elt;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-live-refresh")) { return; }
    var trigger = event.detail.triggeringEvent;
    var type = trigger && typeof trigger.type === "string" ? trigger.type : "";
    // An event, a reconnect, or a poll (htmx's "every" gives no triggering event): this script
    // decides whether and when the region re-fetches, one request at a time (schedule).
    var isEvent = type.indexOf("sse:") === 0;
    if (isEvent || type === "live-reconnected" || !trigger) {
      event.preventDefault();
      var data = isEvent ? eventData(trigger) : null;
      var spread = spreadOf(data);
      if (region.id && document.body.contains(region) && (!isEvent || concerns(region, data))) {
        schedule(region.id, region, spread);
      }
      return;
    }
    if (type === "live-refresh" && isBeingEdited(region)) { event.preventDefault(); }
  });

  // A live re-fetch that left before the user began typing must not land on what they typed
  // (the technician's "Number of images" filled while the start-scan event's re-fetch was in
  // flight): keep the page as it is, and fetch again once this request is done.
  //
  // Nor on the user's own action: a tap on Start posts from inside the worklist, the start's own
  // event re-fetches the worklist, and that answer can come back first. Swapped in, it would
  // detach the form whose answer (the confirmation, with Undo) was still to come, and that
  // answer would land nowhere. The re-fetch waits for the action to be answered, then goes again.
  function isLiveRequest(config) {
    return Boolean(config && config.headers && config.headers["X-Live-Refresh"] === "1");
  }

  function liveRegionOf(elt) {
    return elt && elt.closest ? elt.closest("[data-live-refresh]") : null;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!isLiveRequest(event.detail.requestConfig)) { return; }
    var region = event.detail.target;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-live-refresh")) { return; }
    var state = region.id ? stateOf(region.id) : null;
    if (isBeingEdited(region) || (state && (ownInFlight(state) || pressedJustNow(state)))) {
      event.detail.shouldSwap = false;
      if (state) { state.dirty = true; }
    }
  });

  // A press inside a region (a slot's "Book" button) is a click about to happen: a re-fetch
  // swapped in between the press and the click detached the button, and the click did nothing.
  function pressedJustNow(state) {
    return Date.now() - state.pressedAt < 1000;
  }

  document.addEventListener("pointerdown", function (event) {
    var region = liveRegionOf(event.target);
    if (region && region.id) { stateOf(region.id).pressedAt = Date.now(); }
  }, true);

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isLiveRequest(event.detail.requestConfig)) { return; }
    var region = liveRegionOf(event.detail.elt);
    var xhr = event.detail.xhr;
    if (!region || !region.id || !xhr) { return; }
    var id = region.id;
    var state = stateOf(id);
    state.own += 1;
    state.ownSince = Date.now();
    // The request's own end, whatever it was (answered and swapped, failed, aborted): htmx tells of
    // an aborted request only on its element, which may have left the page by then.
    xhr.addEventListener("loadend", function () {
      state.own = Math.max(0, state.own - 1);
      var now = document.getElementById(id);
      if (state.own === 0 && state.dirty && !state.busy && now) { state.dirty = false; schedule(id, now); }
    });
  });

  // A live region is sent the same to every viewer of its version (webapp/web/live_cache.py): its
  // forms carry a placeholder, named by X-CSRF-Hole, for the CSRF token. Put in this page's own
  // (the one its htmx requests send) before the swap.
  function pageToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return typeof headers["X-CSRFToken"] === "string" ? headers["X-CSRFToken"] : "";
    } catch (ignored) { return ""; }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var hole = xhr && xhr.getResponseHeader("X-CSRF-Hole");
    if (hole && typeof event.detail.serverResponse === "string" && event.detail.serverResponse.indexOf(hole) >= 0) {
      event.detail.serverResponse = event.detail.serverResponse.split(hole).join(pageToken());
    }
  });

  // The confirmation of the user's own action (data-live-keep: "Order … scheduled for …") is part
  // of the region its answer replaced, and the action's own event re-fetches that region a moment
  // later: the confirmation vanished within a quarter of a second. A live re-fetch keeps it (for a
  // minute at most) when its answer has none; the user's next action answers with its own.
  var KEEP_MS = 60000;
  var kept = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    kept = null;
    if (!isLiveRequest(event.detail.requestConfig) || !event.detail.shouldSwap) { return; }
    var region = event.detail.target;
    var message = region && region.querySelector ? region.querySelector("[data-live-keep]") : null;
    if (!message || !region.id) { return; }
    var since = parseInt(message.getAttribute("data-live-kept-since") || "0", 10) || Date.now();
    if (Date.now() - since > KEEP_MS) { return; }
    message.setAttribute("data-live-kept-since", String(since));
    kept = { id: region.id, node: message };
  });

  document.addEventListener("htmx:afterSwap", function () {
    if (kept === null) { return; }
    var region = document.getElementById(kept.id);
    if (region && !region.querySelector("[data-live-keep]")) { region.insertBefore(kept.node, region.firstChild); }
    kept = null;
  });

  // Live re-fetches say so: they do not count as the user's activity (idle sign-out still works).
  document.addEventListener("htmx:configRequest", function (event) {
    var trigger = event.detail.triggeringEvent;
    var type = trigger && typeof trigger.type === "string" ? trigger.type : "";
    var region = event.detail.elt;
    var polling = !trigger && region && region.hasAttribute && region.hasAttribute("data-live-refresh");
    if (type === "live-refresh" || type === "live-reconnected" || polling) {
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
