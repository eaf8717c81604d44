// FabLab Hub — the little the pages do beyond htmx. Hand-written, no dependencies, no inline script
// (the pages run under a Content-Security-Policy that allows only scripts from this site).
(function () {
  "use strict";

  // --- connection state: a banner while the server cannot be reached ----------------------------
  // htmx raises sendError when a request never got an answer (server down, network gone) and
  // timeout when it took too long. Polling goes on regardless, so the next answer clears the banner.
  function setOffline(offline) {
    document.body.classList.toggle("is-offline", offline);
  }
  document.addEventListener("htmx:sendError", function () { setOffline(true); });
  document.addEventListener("htmx:timeout", function () { setOffline(true); });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status > 0) { setOffline(false); }
  });

  // --- toasts fade away by themselves ------------------------------------------------------------
  function expireToasts(root) {
    var toasts = (root || document).querySelectorAll(".toast:not([data-expiring])");
    toasts.forEach(function (toast) {
      toast.setAttribute("data-expiring", "");
      window.setTimeout(function () { toast.remove(); }, 8000);
    });
  }
  document.addEventListener("htmx:afterSwap", function () { expireToasts(document); });

  // --- kiosk: a clock in the site's zone, and a fresh form after each action ---------------------
  function startClock() {
    var clock = document.getElementById("kiosk-clock");
    if (!clock) { return; }
    var format = new Intl.DateTimeFormat(clock.getAttribute("data-locale") || "vi-VN", {
      timeZone: clock.getAttribute("data-tz") || "Asia/Ho_Chi_Minh",
      hour: "2-digit", minute: "2-digit", hour12: false,
    });
    function tick() { clock.textContent = format.format(new Date()); }
    tick();
    window.setInterval(tick, 1000);
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (!form || !form.matches || !form.matches("form[data-kiosk-form]")) { return; }
    form.reset();
    var first = document.querySelector("[data-kiosk-focus]");
    if (first) { first.focus(); }
    // A result stays long enough to read, then the screen is clean for the next person.
    var result = document.getElementById("kiosk-result");
    if (result) {
      window.clearTimeout(result._clearTimer);
      result._clearTimer = window.setTimeout(function () { result.innerHTML = ""; }, 20000);
    }
  });

  // --- copy the calendar address -----------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) { return; }
    input.select();
    if (navigator.clipboard) { navigator.clipboard.writeText(input.value); }
  });

  // --- the availability grid: a day view on a phone, the chosen slot, the booking sheet ----------
  var PHONE = "(max-width: 600px)";

  // A phone opening a resource without asking for a view gets one day of large slots, not a week of
  // seven narrow columns (the server cannot know the screen; the links still say view=week/day).
  function dayViewOnPhones() {
    var grid = document.getElementById("grid");
    if (!grid || grid.getAttribute("data-view") !== "week" || !window.matchMedia(PHONE).matches) { return; }
    var asked = new URLSearchParams(window.location.search);
    if (asked.has("view") || !window.htmx) { return; }
    var url = grid.getAttribute("data-grid") + "?view=day";
    if (asked.get("day")) { url += "&day=" + encodeURIComponent(asked.get("day")); }
    window.htmx.ajax("GET", url, { target: "#grid", swap: "outerHTML" });
  }

  function markChosen(slot) {
    document.querySelectorAll("#grid .slot[aria-current]").forEach(function (s) { s.removeAttribute("aria-current"); });
    if (slot) { slot.setAttribute("aria-current", "true"); }
  }

  var sheetOpener = null;

  function closeSheet() {
    var sheet = document.querySelector("[data-sheet].is-open");
    if (!sheet) { return; }
    sheet.classList.remove("is-open");
    document.body.style.paddingBottom = "";
    markChosen(null);
    if (sheetOpener && document.body.contains(sheetOpener)) { sheetOpener.focus(); }
    sheetOpener = null;
  }

  // A slot's answer has arrived in the panel: open it (a bottom sheet on a narrow screen), keep the
  // tapped slot in sight just above it, and move the focus into the form so Tab and a screen reader
  // continue there rather than in the grid.
  function openSheet(sheet, slot) {
    sheet.classList.add("is-open");
    sheetOpener = slot;
    if (window.getComputedStyle(sheet).position === "fixed") {
      var height = sheet.offsetHeight;
      document.body.style.paddingBottom = height + "px";
      var below = slot.getBoundingClientRect().bottom - (window.innerHeight - height) + 8;
      if (below > 0) { window.scrollBy(0, below); }
    }
    var first = sheet.querySelector("#panel form input:not([type=hidden]), #panel form select, #panel form button");
    if (first) { first.focus({ preventScroll: true }); }
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var detail = event.detail || {};
    var source = detail.requestConfig && detail.requestConfig.elt;
    if (!detail.target || detail.target.id !== "panel" || !source || !source.matches(".slot")) { return; }
    var sheet = detail.target.closest("[data-sheet]");
    if (!sheet) { return; }
    // The grid may have been redrawn meanwhile: mark the slot of the same time in the grid shown now.
    var slot = document.querySelector('#grid .slot[data-start="' + source.getAttribute("data-start") + '"]') || source;
    markChosen(slot);
    openSheet(sheet, slot);
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-sheet-close]")) { closeSheet(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.querySelector("[data-sheet].is-open")) { closeSheet(); }
  });

  // --- manager and admin forms: a refusal stands in the form, beside its field; nothing typed is lost
  // The form is sent as it would be; a success goes on to the page it leads to, a refusal (4xx) is
  // shown in the form instead of a bare error page: each "Field: problem" beside the field whose
  // label it names, the rest at the top. Without this script the form still works (a page says why).
  function keepsInput(form) {
    var path = window.location.pathname;
    return (path.indexOf("/admin") === 0 || path.indexOf("/manage") === 0) &&
      form.matches("main form[method=post]") && !form.hasAttribute("data-native") &&
      !form.hasAttribute("hx-post") && !form.hasAttribute("hx-get") && window.fetch && window.FormData;
  }

  function clearRefusal(form) {
    form.querySelectorAll("[data-refusal]").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid][data-refused]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
      field.removeAttribute("data-refused");
      field.removeAttribute("aria-describedby");
    });
  }

  function showRefusal(form, detail) {
    clearRefusal(form);
    var rest = [];
    var first = null;
    detail.split("; ").forEach(function (part, index) {
      var colon = part.indexOf(": ");
      var placed = false;
      if (colon > 0) {
        var name = part.slice(0, colon).trim();
        form.querySelectorAll("label[for]").forEach(function (label) {
          if (placed || label.textContent.trim().indexOf(name) !== 0) { return; }
          var field = document.getElementById(label.getAttribute("for"));
          if (!field) { return; }
          var note = document.createElement("p");
          note.className = "field-error";
          note.id = "refusal-" + index + "-" + field.id;
          note.setAttribute("data-refusal", "");
          note.textContent = part.slice(colon + 2);
          field.insertAdjacentElement("afterend", note);
          field.setAttribute("aria-invalid", "true");
          field.setAttribute("data-refused", "");
          field.setAttribute("aria-describedby", note.id);
          if (!first) { first = field; }
          placed = true;
        });
      }
      if (!placed) { rest.push(part); }
    });
    var box = document.createElement("div");
    box.className = "error-box";
    box.setAttribute("role", "alert");
    box.setAttribute("data-refusal", "");
    box.setAttribute("tabindex", "-1");
    box.textContent = rest.length ? rest.join("; ") : detail;
    form.insertBefore(box, form.firstChild);
    (first || box).focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !keepsInput(form) || event.defaultPrevented) { return; }
    event.preventDefault();
    var body = new FormData(form);
    if (event.submitter && event.submitter.name) { body.append(event.submitter.name, event.submitter.value); }
    var action = (event.submitter && event.submitter.getAttribute("formaction")) || form.action;
    var headers = { Accept: "application/json", "X-Keep-Flash": "1" };
    var token = form.querySelector("input[name=csrf_token]");
    if (token) { headers["X-CSRF-Token"] = token.value; }
    fetch(action, { method: "POST", body: body, credentials: "same-origin", headers: headers })
      .then(function (response) {
        if (response.ok && response.redirected) { window.location.assign(response.url); return null; }
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (response.ok || !json) {
          // A page of its own (a form shown again with its refusals, a secret shown once): show it.
          return response.text().then(function (html) { document.open(); document.write(html); document.close(); });
        }
        return response.json().then(function (answer) {
          showRefusal(form, (answer && answer.detail) || response.statusText);
        }, function () { showRefusal(form, response.statusText); });
      })
      .catch(function () { setOffline(true); });
  });

  // A report's "Print" button: the page's print stylesheet does the rest.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) { window.print(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    startClock();
    expireToasts(document);
    dayViewOnPhones();
  });
})();
