// The one live connection of a browser: a Hub holds the EventSource to /stream and hands every
// event to the tabs that joined it. It runs inside the SharedWorker (static/live-worker.js) or,
// where a browser has no SharedWorker, in the tab that holds the Web Lock (static/live-share.js).
//
// A tab joins with its page's cursor (the newest event id when it was rendered) and the moment its
// page started loading. It is sent what it may have missed from a short buffer: events with a
// higher id, and events (also those without an id, e.g. critical-result) received since its page
// started. When the buffer cannot tell (the tab's page is older than what the hub holds), the tab
// is told "gap" and re-fetches every live region, as after a reconnect.
//
// Messages to a tab: {kind: "state", state: "open"|"error"}, {kind: "event", type, data, id},
// {kind: "gap"}. send(clientId, message) delivers to one tab; send(null, message) to all.
(function (global) {
  "use strict";

  var BUFFER_MAX = 500;          // events kept for tabs that join later
  var BUFFER_MS = 120000;        // and for at most this long
  var SINCE_MARGIN_MS = 1000;    // clocks of tab and worker are the same; this is for rounding
  var RETRY_MS = [1000, 2000, 4000, 8000, 16000, 30000];  // after the server refused (429, 401, 503)
  var TYPES = ["order-changed", "critical-result"];

  function numeric(value) {
    return typeof value === "string" && /^[0-9]{1,19}$/.test(value) ? Number(value) : null;
  }

  function Hub(url, send) {
    this.url = url;
    this.send = send;
    this.clients = {};
    this.count = 0;
    this.types = {};
    this.source = null;
    this.timer = null;
    this.state = "connecting";
    this.lastId = null;        // the newest event id received
    this.coveredFrom = null;   // the cursor the hub started from: it holds every event after it
    this.startedAt = 0;
    this.droppedAt = 0;        // when the newest event dropped from the buffer was received
    this.buffer = [];
    this.failures = 0;
    this.closed = false;
  }

  Hub.prototype.join = function (id, hello) {
    if (!this.clients[id]) { this.count++; }
    this.clients[id] = true;
    this.listen(TYPES.concat(hello.types || []));
    if (this.source === null && this.timer === null && !this.closed) {
      this.coveredFrom = numeric(hello.cursor);
      this.lastId = hello.cursor || null;
      this.startedAt = Date.now();
      this.connect();
      return;
    }
    this.send(id, { kind: "state", state: this.state });
    this.catchUp(id, hello);
  };

  // What the joining tab may have missed, or "gap" when the buffer cannot tell.
  Hub.prototype.catchUp = function (id, hello) {
    var cursor = numeric(hello.cursor);
    var since = typeof hello.since === "number" ? hello.since - SINCE_MARGIN_MS : 0;
    var olderThanHub = this.coveredFrom !== null ? cursor === null || cursor < this.coveredFrom : since < this.startedAt;
    if (olderThanHub || this.droppedAt >= since) {
      this.send(id, { kind: "gap" });
      return;
    }
    for (var i = 0; i < this.buffer.length; i++) {
      var entry = this.buffer[i];
      var newer = entry.own !== null && cursor !== null && entry.own > cursor;
      if (newer || entry.at >= since) {
        this.send(id, { kind: "event", type: entry.type, data: entry.data, id: entry.id });
      }
    }
  };

  Hub.prototype.leave = function (id) {
    if (!this.clients[id]) { return; }
    delete this.clients[id];
    this.count--;
    if (this.count <= 0) { this.close(); }
  };

  Hub.prototype.listen = function (types) {
    for (var i = 0; i < types.length; i++) {
      var type = types[i];
      if (typeof type !== "string" || type === "open" || type === "error" || this.types[type]) { continue; }
      this.types[type] = true;
      if (this.source !== null) { this.source.addEventListener(type, this.handler(type)); }
    }
  };

  Hub.prototype.handler = function (type) {
    var hub = this;
    return function (event) { hub.received(type, event); };
  };

  Hub.prototype.received = function (type, event) {
    // An event without an id: keeps the previous lastEventId (the EventSource's rule); not "own".
    var own = null;
    var id = event.lastEventId || null;
    if (id !== null && id !== this.lastId) { own = numeric(id); }
    if (id !== null) { this.lastId = id; }
    var now = Date.now();
    this.buffer.push({ type: type, data: event.data, id: id, own: own, at: now });
    while (this.buffer.length > BUFFER_MAX || (this.buffer.length && now - this.buffer[0].at > BUFFER_MS)) {
      this.droppedAt = this.buffer.shift().at;
    }
    this.send(null, { kind: "event", type: type, data: event.data, id: id });
  };

  Hub.prototype.setState = function (state) {
    if (this.state === state) { return; }
    this.state = state;
    this.send(null, { kind: "state", state: state });
  };

  Hub.prototype.connect = function () {
    var hub = this;
    this.timer = null;
    var target = new URL(this.url, global.location.href);
    if (this.lastId) { target.searchParams.set("last_event_id", this.lastId); }
    var source = this.source = new EventSource(target.toString(), { withCredentials: true });
    Object.keys(this.types).forEach(function (type) { source.addEventListener(type, hub.handler(type)); });
    source.addEventListener("open", function () {
      hub.failures = 0;
      hub.setState("open");
    });
    source.addEventListener("error", function () {
      hub.setState("error");
      if (source.readyState === 2 && hub.source === source && !hub.closed) {
        // The server refused (e.g. 429 while another browser of the account holds every slot):
        // the EventSource gives up; come back later, from the last event seen.
        hub.source = null;
        var wait = RETRY_MS[Math.min(hub.failures, RETRY_MS.length - 1)];
        hub.failures++;
        hub.timer = setTimeout(function () { hub.connect(); }, wait);
      }
    });
  };

  Hub.prototype.close = function () {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.source !== null) { this.source.close(); }
    this.source = null;
  };

  global.LiveHub = Hub;
})(self);
