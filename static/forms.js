// Forms: counters of limited text fields, asking before typed text is thrown away, and no empty
// parameters in the URLs of filter forms. Pages work without it (the server refuses over-limit
// text with the field's label; a closed dialog is only closed).
(function () {
  "use strict";

  // ---- counters: "N / LIMIT characters", red past the limit (templates/_macros/forms.html).
  function updateCounter(field) {
    var counter = document.getElementById(field.id + "-counter");
    if (!counter) { return; }
    var limit = parseInt(field.dataset.limit, 10);
    var used = field.value.trim().length;
    counter.querySelector(".char-count").textContent = used.toLocaleString("en-US");
    counter.classList.toggle("over-limit", used > limit);
    if (used > limit) {
      counter.dataset.over = "Too long by " + (used - limit).toLocaleString("en-US") + ": it will not be saved.";
    } else {
      delete counter.dataset.over;
    }
  }

  // ---- typed text: a form marked data-confirm-discard asks before it is closed or left.
  var DISCARD_TEXT = "Discard what you typed? It has not been saved.";

  function dirtyForm(root) {
    return root ? root.querySelector("form[data-confirm-discard][data-dirty]") : null;
  }

  function keepTyping(root) {
    // True when the user chose to stay (the close is to be stopped).
    return Boolean(dirtyForm(root)) && !window.confirm(DISCARD_TEXT);
  }

  document.addEventListener("input", function (event) {
    var field = event.target;
    if (field.dataset && field.dataset.limit) { updateCounter(field); }
    var form = field.closest ? field.closest("form[data-confirm-discard]") : null;
    if (form) { form.dataset.dirty = "1"; }
  });

  document.addEventListener("submit", function (event) {
    if (event.target.dataset) { delete event.target.dataset.dirty; }
  }, true);

  // Escape on the dialog: its cancel event comes first, and can be stopped.
  document.addEventListener("cancel", function (event) {
    if (event.target.id === "app-dialog" && keepTyping(event.target)) { event.preventDefault(); }
  }, true);

  // Cancel and × (data-dialog-close): asked before app.js closes the dialog or the link leaves.
  document.addEventListener("click", function (event) {
    var closer = event.target.closest ? event.target.closest("[data-dialog-close]") : null;
    if (!closer) { return; }
    var root = closer.closest("dialog") || document;
    if (keepTyping(root)) {
      event.preventDefault();
      event.stopPropagation();
    } else {
      var form = dirtyForm(root);
      if (form) { delete form.dataset.dirty; }
    }
  }, true);

  // Leaving the page (the form as a page of its own, without the dialog).
  window.addEventListener("beforeunload", function (event) {
    var d = document.getElementById("app-dialog");
    if (dirtyForm(document) && !(d && d.open)) { event.preventDefault(); event.returnValue = ""; }
  });

  // ---- filter forms (data-drop-empty): the pushed URL carries only what is set.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    var form = elt && elt.closest ? elt.closest("form[data-drop-empty]") : null;
    if (!form || event.detail.verb !== "get") { return; }
    var data = event.detail.formData;
    if (!data || !data.keys) { return; }
    var empty = [];
    data.forEach(function (value, key) {
      if (typeof value === "string" && value.trim() === "" && empty.indexOf(key) < 0) { empty.push(key); }
    });
    empty.forEach(function (key) { data.delete(key); });
  });
})();
