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

  document.addEventListener("DOMContentLoaded", function () {
    startClock();
    expireToasts(document);
  });
})();
