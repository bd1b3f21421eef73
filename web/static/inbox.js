// The inbox's selection for bulk actions: "select all on this page", the count of selected
// cases, and the selection kept when the live list is re-fetched (the rows are replaced).
(function () {
  "use strict";
  var kept = [];

  function boxes() {
    return Array.prototype.slice.call(
      document.querySelectorAll("#results input[type=checkbox][name=case]"));
  }

  function update() {
    var all = boxes(), chosen = all.filter(function (b) { return b.checked; });
    var count = document.getElementById("selected-count");
    if (count) {
      count.textContent = chosen.length
        ? chosen.length + (chosen.length === 1 ? " case selected." : " cases selected.")
        : "Select cases in the list below.";
    }
    var master = document.querySelector("[data-select-all]");
    if (master) {
      master.checked = all.length > 0 && chosen.length === all.length;
      master.indeterminate = chosen.length > 0 && chosen.length < all.length;
    }
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("[data-select-all]")) {
      boxes().forEach(function (b) { b.checked = t.checked; });
    }
    if (t.matches && (t.matches("[data-select-all]") || t.name === "case")) update();
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (!target || target.id !== "results") return;
    // A bulk action answers with the outcome: the selection is done with. Else keep it.
    var verb = (e.detail.requestConfig && e.detail.requestConfig.verb) || "get";
    kept = verb === "get"
      ? boxes().filter(function (b) { return b.checked; }).map(function (b) { return b.value; })
      : [];
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    if (!document.getElementById("results")) return;
    if (kept.length) {
      boxes().forEach(function (b) { if (kept.indexOf(b.value) >= 0) b.checked = true; });
      kept = [];
    }
    update();
  });

  document.addEventListener("DOMContentLoaded", update);
})();
