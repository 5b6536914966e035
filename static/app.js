// The app's own script: small enhancements on top of htmx. Pages work without it.
(function () {
  "use strict";

  function dialog() { return document.getElementById("app-dialog"); }

  function focusFirst(container) {
    // The element asked for, else the first field with an error, else the first field.
    var target = container.querySelector("[data-autofocus]") || container.querySelector(".is-invalid") ||
      container.querySelector("input:not([type=hidden]), select, textarea, button");
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

  // Below 1200 px the sidebar folds into a menu button (CSS decides when the button shows).
  function enableMenu() {
    var button = document.getElementById("app-menu-button");
    var sidebar = document.getElementById("app-sidebar");
    if (!button || !sidebar) { return; }
    function setOpen(open) {
      sidebar.classList.toggle("is-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.hidden = false;
    sidebar.classList.add("has-menu");
    button.addEventListener("click", function () { setOpen(!sidebar.classList.contains("is-open")); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && sidebar.classList.contains("is-open")) { setOpen(false); button.focus(); }
    });
    document.addEventListener("click", function (event) {
      if (sidebar.classList.contains("is-open") && !sidebar.contains(event.target)) { setOpen(false); }
    });
  }

  // The tablet's confirmation: "Dismiss" removes it in place (without JavaScript it reloads the page).
  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest ? event.target.closest("[data-dismiss-confirmation]") : null;
    if (!dismiss) { return; }
    event.preventDefault();
    var message = dismiss.closest(".worklist-message");
    if (message) { message.remove(); }
  });

  document.addEventListener("DOMContentLoaded", function () { enableCopyButtons(document); enableMenu(); });
  document.addEventListener("htmx:load", function (event) { enableCopyButtons(event.target); });

  // The order form: htmx loads it into the dialog, which then opens as a modal (focus stays inside).
  // After the settle: only then do swapped elements that kept their id carry their new classes
  // (is-invalid).
  document.addEventListener("htmx:afterSettle", function (event) {
    var d = dialog();
    if (!d) { return; }
    // The new content (after an outerHTML swap, event.detail.target is the element it replaced).
    var swapped = event.target;
    var source = event.detail.requestConfig ? event.detail.requestConfig.elt : null;
    if (event.detail.target && event.detail.target.id === "dialog-body") {
      if (d.querySelector("#dialog-title")) { d.setAttribute("aria-labelledby", "dialog-title"); }
      if (!d.open) { d.showModal(); }
      focusFirst(d);
    } else if (d.open && d.contains(swapped)) {
      // A change of a choice re-rendered the choices that depend on it (hx-get): htmx has put the
      // focus back on the select the user is on; keep it there (a keyboard user's next ArrowDown
      // must not land on Modality). A submitted form goes to its first error.
      var verb = event.detail.requestConfig ? event.detail.requestConfig.verb : "";
      if (verb === "get" && swapped.contains(document.activeElement)) { return; }
      focusFirst(d);
    } else if (d.open && source && d.contains(source)) {
      // A form in the dialog answered with a region of the page (HX-Retarget): the order was
      // saved, or someone else changed it first. The dialog is done; the page shows the outcome.
      d.close();
      var message = swapped.querySelector("[data-autofocus]");
      if (message) { message.focus(); }
    } else if (!d.open && swapped) {
      // (A live refresh behind the open dialog leaves the focus in the dialog.)
      var focus = swapped.querySelector("[data-autofocus]");
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
      event.target.removeAttribute("aria-labelledby");
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
