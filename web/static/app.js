// Caseloop page behaviour: live countdowns, an early check of the upload size, and the
// "temporarily unavailable" banner taken away once a request succeeds again.
// Everything works without this file; it only makes the page friendlier.
(function () {
  "use strict";

  function span(ms) {
    var s = Math.abs(ms) / 1000;
    if (s < 3600) {
      var m = Math.max(1, Math.floor(s / 60));
      return m + (m === 1 ? " minute" : " minutes");
    }
    var h = Math.floor(s / 3600);
    return h + (h === 1 ? " hour" : " hours");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = due - now;
      el.textContent = left < 0 ? span(left) + " past due" : "in " + span(left);
      el.classList.toggle("past", left < 0);
    });
  }

  function checkUpload(event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var file = input.files && input.files[0];
    var message = "";
    if (file && max && file.size > max) {
      message = "The file is larger than the limit of " +
        (input.getAttribute("data-max-text") || max + " bytes") + ".";
    }
    input.setCustomValidity(message);
    if (message) input.reportValidity();
  }

  function clearOutage(event) {
    var xhr = event.detail && event.detail.xhr;
    var banner = document.getElementById("outage");
    if (!xhr || xhr.status >= 400 || !banner || !banner.firstChild) return;
    var empty = document.createElement("div");
    empty.id = "outage";
    banner.replaceWith(empty);
  }

  document.addEventListener("change", checkUpload);
  document.addEventListener("htmx:afterRequest", clearOutage);
  setInterval(tick, 30000);
  document.addEventListener("htmx:afterSettle", tick);
})();
