// The inbox's selection for bulk actions: "select all on this page", the count of selected
// cases, and the selection kept when the live list is re-fetched (its rows are replaced).
// The selection is held here, not in the checkboxes: a refresh that lands between a click and
// the send cannot lose it. The bulk form sends the selected cases that the list shows now.
(function () {
  "use strict";
  var selected = new Set();

  function boxes() {
    return Array.prototype.slice.call(
      document.querySelectorAll("#results input[type=checkbox][name=case]"));
  }

  function shown() {
    return boxes().map(function (b) { return b.value; })
      .filter(function (id) { return selected.has(id); });
  }

  function update() {
    var all = boxes();
    all.forEach(function (b) { b.checked = selected.has(b.value); });
    var chosen = shown();
    var count = document.getElementById("selected-count");
    if (count) {
      var words = window.caseloopWords;
      if (words) {
        count.textContent = chosen.length
          ? words.count("selected", chosen.length, "%(num)d case selected.",
            "%(num)d cases selected.")
          : words.say("select_hint", "Select cases in the list below.");
      } else {
        count.textContent = chosen.length
          ? chosen.length + (chosen.length === 1 ? " case selected." : " cases selected.")
          : "Select cases in the list below.";
      }
    }
    var master = document.querySelector("[data-select-all]");
    if (master) {
      master.checked = all.length > 0 && chosen.length === all.length;
      master.indeterminate = chosen.length > 0 && chosen.length < all.length;
    }
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t.matches) return;
    if (t.matches("[data-select-all]")) {
      boxes().forEach(function (b) {
        if (t.checked) selected.add(b.value); else selected.delete(b.value);
      });
    } else if (t.matches("input[type=checkbox][name=case]")) {
      if (t.checked) selected.add(t.value); else selected.delete(t.value);
    } else {
      return;
    }
    update();
  });

  // The bulk form sends the selection as held here (the checkboxes may be mid-swap).
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.elt && e.detail.elt.id === "bulk") e.detail.parameters["case"] = shown();
  });

  // The list was replaced (a live refresh, a tab, a page): show the selection on the new rows.
  document.addEventListener("htmx:afterSwap", update);
  document.addEventListener("htmx:afterSettle", update);

  // A bulk action is done (its outcome shows beside the list): the selection is spent; the list
  // is fetched again to show the cases as they are now.
  document.addEventListener("inbox-bulk-done", function () {
    selected.clear();
    update();
    var results = document.getElementById("results");
    if (results && window.htmx) {
      htmx.ajax("GET", results.getAttribute("data-live-url"),
        {source: results, target: results, swap: "outerHTML"});
    }
  });

  // Checked before the script ran (or by the server, after a refused form without scripts).
  document.addEventListener("DOMContentLoaded", function () {
    boxes().forEach(function (b) { if (b.checked) selected.add(b.value); });
    update();
  });
})();
