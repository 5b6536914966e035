// The SharedWorker that holds a browser's one /stream connection (static/live-hub.js) for every
// tab of the same signed-in session (the worker's name carries the session's live scope, so a new
// sign-in gets a worker of its own). Tabs talk to it through static/live-share.js.
//
// From a tab: {kind: "join", id, url, cursor, since, types}, {kind: "listen", types},
// {kind: "leave"}. A tab that goes away without saying so (a crash) is noticed through its Web
// Lock "live-tab:<id>", which the worker is granted once the tab has gone.
/* global LiveHub */
importScripts("live-hub.js");

(function () {
  "use strict";

  var hubs = {};     // by stream URL
  var ports = {};    // by tab id: {port, url}

  function send(url) {
    return function (id, message) {
      var hub = hubs[url];
      if (!hub) { return; }
      var targets = id === null ? Object.keys(hub.clients) : [id];
      for (var i = 0; i < targets.length; i++) {
        var tab = ports[targets[i]];
        if (tab) { tab.port.postMessage(message); }
      }
    };
  }

  function leave(id) {
    var tab = ports[id];
    if (!tab) { return; }
    delete ports[id];
    var hub = hubs[tab.url];
    if (!hub) { return; }
    hub.leave(id);
    if (hub.count <= 0) { delete hubs[tab.url]; }
  }

  function join(port, message) {
    var id = String(message.id);
    var url = String(message.url);
    if (ports[id]) { leave(id); }
    ports[id] = { port: port, url: url };
    var hub = hubs[url] || (hubs[url] = new LiveHub(url, send(url)));
    hub.join(id, message);
    if (self.navigator && self.navigator.locks) {
      self.navigator.locks.request("live-tab:" + id, function () {
        if (ports[id] && ports[id].port === port) { leave(id); }
      });
    }
  }

  self.addEventListener("connect", function (event) {
    var port = event.ports[0];
    var joined = null;
    port.addEventListener("message", function (message) {
      var data = message.data || {};
      if (data.kind === "join") {
        joined = String(data.id);
        join(port, data);
      } else if (data.kind === "listen" && joined && ports[joined]) {
        var hub = hubs[ports[joined].url];
        if (hub) { hub.listen(data.types || []); }
      } else if (data.kind === "leave" && joined) {
        leave(joined);
        joined = null;
      }
    });
    port.start();
  });
})();
