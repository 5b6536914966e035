// The report editor (templates/reporting/editor.html): nothing typed is lost.
// - What was typed since the last save is saved when the page is hidden (reload, another page,
//   a closed tab) with navigator.sendBeacon: the form's own fields, CSRF token and draft version
//   included, so a draft changed elsewhere is not overwritten (the server answers 412).
// - Leaving with unsaved text asks first (beforeunload).
// - After a reload, if the last save may still have been on its way, the page loads once more.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form || form.dataset.readonly) { return; }
  var SECTIONS = ["technique", "comparison", "findings", "impression"];
  var key = "report-beacon:" + form.dataset.orderId;
  var leaving = false;
  var pending = null;

  function snapshot() {
    return SECTIONS.map(function (name) { return form.elements[name] ? form.elements[name].value : ""; }).join("\u0000");
  }
  // A page showing a conflict holds text that is not saved.
  var saved = form.dataset.conflict ? null : snapshot();
  function dirty() { return snapshot() !== saved; }

  form.addEventListener("htmx:confirm", function (event) {
    if (form.dataset.conflict) { event.preventDefault(); }
  });
  form.addEventListener("htmx:beforeRequest", function () { pending = snapshot(); });
  form.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful && pending !== null) { saved = pending; }
    if (event.detail.xhr && event.detail.xhr.status === 412) {
      // The draft changed elsewhere: both texts are shown; nothing more is saved behind the user's back.
      form.dataset.conflict = "1";
    }
    pending = null;
  });
  form.addEventListener("submit", function () { leaving = true; });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-leave-ok]")) { leaving = true; }
  });

  window.addEventListener("beforeunload", function (event) {
    if (leaving || !dirty()) { return; }
    event.preventDefault();
    event.returnValue = "";
  });

  window.addEventListener("pagehide", function () {
    if (leaving || !dirty() || !navigator.sendBeacon || form.dataset.conflict) { return; }
    var data = new FormData(form);
    data.delete("resolve_version");
    if (navigator.sendBeacon(form.dataset.draftUrl, data)) {
      try { sessionStorage.setItem(key, form.elements.draft_version.value); } catch (e) { /* private mode */ }
      saved = snapshot();
    }
  });

  var sent = null;
  try { sent = sessionStorage.getItem(key); sessionStorage.removeItem(key); } catch (e) { sent = null; }
  if (sent !== null && form.elements.draft_version.value === sent) {
    // The page may have been read before its last save arrived: read it once more.
    setTimeout(function () { leaving = true; window.location.reload(); }, 400);
  }
})();
