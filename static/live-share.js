// One /stream connection per browser, shared by all its tabs. LiveShare.open(url, options) gives a
// tab an object that behaves like the EventSource htmx-ext-sse expects (addEventListener, onopen,
// onerror, readyState, close), fed from the one connection:
//
// 1. a SharedWorker (static/live-worker.js) holds it, where the browser has SharedWorker;
// 2. else the tab holding the Web Lock "live-leader:<scope>" holds it (static/live-hub.js) and
//    relays every event over a BroadcastChannel; when that tab closes, another one is granted the
//    lock and takes over, resuming from the last event id it heard (every tab then re-fetches once);
// 3. else (neither) the tab holds a connection of its own, as before.
//
// options: cursor (the page's newest event id), scope (data-live-scope: one connection per signed-in
// session), worker (the worker script's URL). See docs/live-updates.md.
(function () {
  "use strict";

  var CONNECTING = 0, OPEN = 1, CLOSED = 2;

  function tabId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function pageStart() {
    return window.performance && performance.timeOrigin ? performance.timeOrigin : Date.now();
  }

  // What htmx-ext-sse and static/live.js hold: an EventSource-like object of this tab.
  function SharedSource(url) {
    this.url = url;
    this.withCredentials = true;
    this.readyState = CONNECTING;
    this.onopen = null;
    this.onerror = null;
    this.onmessage = null;
    this.types = {};
    this.target = document.createElement("span");  // an EventTarget every browser has
    this.transport = null;
  }
  SharedSource.CONNECTING = CONNECTING;
  SharedSource.OPEN = OPEN;
  SharedSource.CLOSED = CLOSED;

  SharedSource.prototype.addEventListener = function (type, listener, options) {
    this.target.addEventListener(type, listener, options);
    if (!this.types[type] && type !== "open" && type !== "error") {
      this.types[type] = true;
      if (this.transport) { this.transport.listen([type]); }
    }
  };
  SharedSource.prototype.removeEventListener = function (type, listener, options) {
    this.target.removeEventListener(type, listener, options);
  };
  SharedSource.prototype.dispatchEvent = function (event) { return this.target.dispatchEvent(event); };
  SharedSource.prototype.close = function () {
    if (this.readyState === CLOSED) { return; }
    this.readyState = CLOSED;
    if (this.transport) { this.transport.leave(); }
  };

  // A message from the shared connection.
  SharedSource.prototype.deliver = function (message) {
    if (this.readyState === CLOSED || !message) { return; }
    if (message.kind === "state") {
      var up = message.state === "open";
      if (up && this.readyState === OPEN) { return; }
      if (!up && message.state !== "error") { return; }
      this.readyState = up ? OPEN : CONNECTING;
      var event = new Event(up ? "open" : "error");
      this.target.dispatchEvent(event);
      var handler = up ? this.onopen : this.onerror;
      if (typeof handler === "function") { handler.call(this, event); }
    } else if (message.kind === "event") {
      var type = String(message.type);
      var payload = new MessageEvent(type, { data: message.data, lastEventId: message.id || "" });
      this.target.dispatchEvent(payload);
      if (type === "message" && typeof this.onmessage === "function") { this.onmessage.call(this, payload); }
    } else if (message.kind === "gap") {
      // The shared connection cannot tell what this page missed: every live region re-fetches.
      if (window.htmx) { htmx.trigger(document.body, "live-reconnected"); }
    }
  };

  SharedSource.prototype.hello = function (cursor, since) {
    return { kind: "join", id: this.id, url: new URL(this.url, location.href).toString(), cursor: cursor,
      since: since, types: Object.keys(this.types) };
  };

  // ---------------------------------------------------------------- 1. the SharedWorker

  function viaWorker(source, options) {
    var worker;
    try {
      worker = new SharedWorker(options.worker, { name: "live:" + options.scope });
    } catch (ignored) {
      return false;
    }
    var port = worker.port;
    var cursor = options.cursor;
    var since = pageStart();
    var heard = false;
    port.onmessage = function (message) {
      var data = message.data;
      heard = true;
      if (data && data.kind === "event" && data.id) { cursor = data.id; }
      source.deliver(data);
    };
    // The worker could not start (its script failed to load): this tab shares through a leader.
    worker.addEventListener("error", function () {
      if (heard || source.readyState === CLOSED) { return; }
      source.transport = null;
      fallback(source, options);
    });
    port.start();
    function join() { port.postMessage(source.hello(cursor, since)); }
    source.transport = {
      listen: function (types) { port.postMessage({ kind: "listen", types: types }); },
      leave: function () { port.postMessage({ kind: "leave" }); },
    };
    // The worker learns that this tab has gone when it is granted this tab's lock.
    if (navigator.locks) {
      navigator.locks.request("live-tab:" + source.id, function () {
        join();
        return new Promise(function () {});
      });
    } else {
      join();
    }
    window.addEventListener("pagehide", function () { source.transport.leave(); });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && source.readyState !== CLOSED) { since = Date.now(); join(); }
    });
    return true;
  }

  // ---------------------------------------------------------------- 2. a leader tab

  function viaLeader(source, options) {
    var channel = new BroadcastChannel("live:" + options.scope);
    var cursor = options.cursor;
    var since = pageStart();
    var hub = null;
    var welcomed = false;

    function receive(message) {
      if (message && message.kind === "event" && message.id) { cursor = message.id; }
      welcomed = true;
      source.deliver(message);
    }
    function toHub(message) {
      if (message.kind === "join") { hub.join(message.id, message); }
      else if (message.kind === "listen") { hub.listen(message.types || []); }
      else if (message.kind === "leave") { hub.leave(message.id); }
    }
    function send(message) {
      if (hub !== null) { toHub(message); } else { channel.postMessage(message); }
    }
    function join() {
      if (welcomed) {
        // A new leader: what happened while nobody held the connection is re-fetched.
        source.deliver({ kind: "state", state: "error" });
      }
      send(source.hello(cursor, since));
    }

    channel.onmessage = function (message) {
      var data = message.data || {};
      if (hub !== null) {
        if (data.kind === "join" || data.kind === "listen" || data.kind === "leave") { toHub(data); }
        return;
      }
      if (data.kind === "leader") { join(); }
      else if (data.kind === "relay" && (data.to === null || data.to === source.id)) { receive(data.message); }
    };

    navigator.locks.request("live-leader:" + options.scope, function () {
      if (source.readyState === CLOSED) { return undefined; }
      hub = new window.LiveHub(source.url, function (id, message) {
        if (id === null || id === source.id) { receive(message); }
        if (id !== source.id) { channel.postMessage({ kind: "relay", to: id, message: message }); }
      });
      channel.postMessage({ kind: "leader" });
      join();
      return new Promise(function () {});  // held until this tab goes away
    });

    source.transport = {
      listen: function (types) { send({ kind: "listen", id: source.id, types: types }); },
      leave: function () {
        if (hub !== null) { hub.close(); } else { channel.postMessage({ kind: "leave", id: source.id }); }
      },
    };
    join();
    window.addEventListener("pagehide", function () { source.transport.leave(); });
    return true;
  }

  // ---------------------------------------------------------------- 3. this tab alone

  function viaOwnConnection(source, options) {
    var hub = new window.LiveHub(source.url, function (id, message) { source.deliver(message); });
    source.transport = {
      listen: function (types) { hub.listen(types); },
      leave: function () { hub.close(); },
    };
    hub.join(source.id, source.hello(options.cursor, pageStart()));
    return true;
  }

  function fallback(source, options) {
    if (window.BroadcastChannel && navigator.locks && viaLeader(source, options)) { return; }
    viaOwnConnection(source, options);
  }

  // ---------------------------------------------------------------- choosing

  function open(url, options) {
    var scope = options.scope;
    if (scope) {
      var source = new SharedSource(url);
      source.id = tabId();
      if (window.SharedWorker && options.worker && viaWorker(source, options)) { return source; }
      if (window.LiveHub) { fallback(source, options); return source; }
    }
    var target = new URL(url, location.href);
    if (options.cursor) { target.searchParams.set("last_event_id", options.cursor); }
    return new EventSource(target.toString(), { withCredentials: true });
  }

  window.LiveShare = { open: open, SharedSource: SharedSource };
})();
