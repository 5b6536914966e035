// The app's own script: small enhancements on top of htmx. Pages work without it.
(function () {
  "use strict";

  function dialog() { return document.getElementById("app-dialog"); }

  function focusFirst(container) {
    var target = container.querySelector("[data-autofocus], .is-invalid, input:not([type=hidden]), select, textarea, button");
    if (target) { target.focus(); }
  }

  function enableCopyButtons(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      if (button.dataset.copyReady) { return; }
      button.dataset.copyReady = "1";
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.dataset.copy).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 2000);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { enableCopyButtons(document); });
  document.addEventListener("htmx:load", function (event) { enableCopyButtons(event.target); });

  // The order form: htmx loads it into the dialog, which then opens as a modal (focus stays inside).
  document.addEventListener("htmx:afterSwap", function (event) {
    var d = dialog();
    if (!d) { return; }
    if (event.detail.target && event.detail.target.id === "dialog-body") {
      if (!d.open) { d.showModal(); }
      focusFirst(d);
    } else if (d.open && d.contains(event.detail.target)) {
      focusFirst(d);
    } else if (event.detail.target) {
      var focus = event.detail.target.querySelector("[data-autofocus]");
      if (focus) { focus.focus(); }
    }
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-dialog-close]");
    var d = dialog();
    if (closer && d && d.open) {
      event.preventDefault();
      d.close();
    }
  });

  // Keep Tab and Shift+Tab inside the open dialog (the page behind is inert, the browser UI is not).
  var FOCUSABLE = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  document.addEventListener("keydown", function (event) {
    var d = dialog();
    if (event.key !== "Tab" || !d || !d.open) { return; }
    var items = Array.prototype.filter.call(d.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null || el === document.activeElement;
    });
    if (!items.length) { return; }
    var first = items[0], last = items[items.length - 1];
    if (!d.contains(document.activeElement)) {
      event.preventDefault();
      first.focus();
    } else if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });

  document.addEventListener("close", function (event) {
    if (event.target.id === "app-dialog") {
      document.getElementById("dialog-body").innerHTML = "";
    }
  }, true);

  // A request that failed (server error, network): say so instead of doing nothing.
  function showError(text) {
    var box = document.getElementById("htmx-error");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    setTimeout(function () { box.hidden = true; }, 8000);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    showError(status === 403 ? "Your role does not allow this." :
      "The request failed (" + status + "). Please reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showError("The server cannot be reached. Check the connection and try again.");
  });
})();
