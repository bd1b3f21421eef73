// Caseloop page behaviour: live countdowns, an early check of the upload size, busy buttons and
// request errors, live updates, and the "temporarily unavailable" banner taken away once a
// request succeeds again. Everything works without this file; it makes the page friendlier.
(function () {
  "use strict";

  // The page's words in its language (base.html: #caseloop-words), English without them.
  var WORDS = {};
  try {
    WORDS = JSON.parse(document.getElementById("caseloop-words").textContent) || {};
  } catch (e) { WORDS = {}; }
  function say(key, english, values) {
    var text = typeof WORDS[key] === "string" ? WORDS[key] : english;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("%(" + name + ")s").join(values[name])
        .split("%(" + name + ")d").join(values[name]);
    });
    return text;
  }
  function count(key, n, one, other) {
    var forms = Array.isArray(WORDS[key]) ? WORDS[key] : [one, other];
    return (n === 1 ? forms[0] : forms[1]).split("%(num)d").join(n).split("%(num)s").join(n);
  }
  window.caseloopWords = { say: say, count: count };

  function span(ms) {
    var s = Math.abs(ms) / 1000;
    if (s < 3600) {
      var m = Math.max(1, Math.floor(s / 60));
      return count("minute", m, "%(num)d minute", "%(num)d minutes");
    }
    var h = Math.floor(s / 3600);
    return count("hour", h, "%(num)d hour", "%(num)d hours");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = due - now;
      el.textContent = left < 0
        ? say("past_due", "%(late)s past due", { late: span(left) })
        : say("in", "in %(left)s", { left: span(left) });
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
      message = say("too_large", "The file is larger than the limit of %(limit)s.",
        { limit: input.getAttribute("data-max-text") || max + " bytes" });
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

  // A knowledge-base article into the reply being written (without a script, the link opens the
  // reply form filled with the article instead): added after what is typed, then editable.
  function insertArticle(event) {
    var link = event.target.closest && event.target.closest("a[data-kb-text]");
    var text = document.getElementById("reply-text");
    var subject = document.getElementById("reply-subject");
    var reply = document.getElementById("reply");
    if (!link || !text || !reply) return;
    event.preventDefault();
    reply.open = true;
    var body = link.getAttribute("data-kb-text");
    text.value = text.value.trim() ? text.value.replace(/\s+$/, "") + "\n\n" + body : body;
    if (subject && !subject.value.trim()) subject.value = link.getAttribute("data-kb-title");
    text.focus();
  }

  document.addEventListener("click", insertArticle);
  document.addEventListener("change", checkUpload);
  document.addEventListener("htmx:afterRequest", clearOutage);
  setInterval(tick, 30000);
  document.addEventListener("htmx:afterSettle", tick);

  // ---------------------------------------------------------------- busy buttons, failed requests
  // Every request shows on its button (disabled, aria-busy, "Saving…"); a request that fails
  // without an answer on the page says so next to the button (or atop the page).

  function buttonOf(elt, evt) {
    if (evt && evt.submitter) return evt.submitter;
    if (!elt.matches) return null;
    if (elt.matches("button, input[type=submit]")) return elt;
    if (elt.tagName === "FORM") {
      return elt.querySelector("button[type=submit], button:not([type]), input[type=submit]");
    }
    return null;
  }

  function setBusy(button, on, verb) {
    if (on) {
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("data-idle-label", button.innerHTML);
      button.textContent = button.getAttribute("data-busy-label") ||
        (String(verb).toLowerCase() === "get" ? say("loading", "Loading…") : say("saving", "Saving…"));
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
    } else if (button.getAttribute("aria-busy") === "true") {
      button.innerHTML = button.getAttribute("data-idle-label");
      button.removeAttribute("data-idle-label");
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }

  function clearRequestErrors(elt) {
    // A form's own message, or the page's (a request without a form: a link, a live refresh).
    var form = elt.closest && elt.closest("form");
    var shown = form ? form.querySelectorAll(".request-error") :
      document.querySelectorAll("#main > .request-error");
    shown.forEach(function (p) { p.remove(); });
  }

  function showRequestError(elt, text) {
    clearRequestErrors(elt);
    var p = document.createElement("p");
    p.className = "request-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    var form = elt.closest && elt.closest("form");
    var main = document.getElementById("main");
    if (form && document.body.contains(form)) form.appendChild(p);
    else if (main) main.insertBefore(p, main.firstChild);
  }

  document.addEventListener("htmx:beforeRequest", function (e) {
    var d = e.detail;
    clearRequestErrors(d.elt);
    var button = buttonOf(d.elt, d.requestConfig && d.requestConfig.triggeringEvent);
    if (button) {
      setBusy(button, true, d.requestConfig.verb);
      d.xhr.caseloopButton = button;
    }
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    e.detail.xhr.caseloopSwapped = e.detail.shouldSwap;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.xhr.caseloopButton) setBusy(e.detail.xhr.caseloopButton, false);
  });
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.caseloopSwapped) return; // the server's answer (a refusal, field errors) is shown
    var wait = xhr.getResponseHeader("Retry-After");
    showRequestError(e.detail.elt, wait
      ? say("server_error_wait", "Not done: the server answered with an error (%(status)s). " +
        "Please try again in %(wait)s seconds.", { status: xhr.status, wait: wait })
      : say("server_error", "Not done: the server answered with an error (%(status)s). " +
        "Please try again.", { status: xhr.status }));
  });
  function unreachable(e) {
    showRequestError(e.detail.elt,
      say("unreachable",
        "Not sent: the server could not be reached. Check your connection and try again."));
  }
  document.addEventListener("htmx:sendError", unreachable);
  document.addEventListener("htmx:timeout", unreachable);

  // Plain forms (sign in, sign out) navigate: busy until the next page comes.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || form.hasAttribute("hx-post") || form.hasAttribute("hx-get")) return;
    var button = buttonOf(form, e);
    // After the browser has read the form (a disabled button would not be sent).
    if (button) setTimeout(function () { setBusy(button, true, form.method); }, 0);
  });
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return; // back from the page cache: nothing is running any more
    document.querySelectorAll("[aria-busy=true]").forEach(function (b) { setBusy(b, false); });
  });

  // ---------------------------------------------------------------- live updates
  // What a page follows is in its markup: [data-live-case] (data-live-version: the version shown),
  // [data-live-inbox], and data-live-since (the change log position it was rendered at). All tabs
  // share one stream through static/live-worker.js (browsers allow 6 connections per host);
  // without SharedWorker each tab opens its own. A hidden tab leaves; shown again, it rejoins
  // from the last event id it saw, and the server replays what it missed.

  var live = {tab: Math.random().toString(36).slice(2), last: null, port: null, source: null,
              joined: null};
  var EVENTS = ["badge", "inbox", "case", "reload", "position"];

  function liveTopics() {
    var cases = [];
    document.querySelectorAll("[data-live-case]").forEach(function (el) {
      cases.push(el.getAttribute("data-live-case"));
    });
    return {cases: cases, inbox: !!document.querySelector("[data-live-inbox]")};
  }

  var refreshing = false, refreshAgain = false;
  function refreshInbox() {
    var results = document.querySelector("[data-live-inbox]");
    if (!results || !window.htmx) return;
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    var done = function () {
      refreshing = false;
      if (refreshAgain) { refreshAgain = false; refreshInbox(); }
    };
    htmx.ajax("GET", results.getAttribute("data-live-url"),
      {source: results, target: results, swap: "outerHTML"}).then(done, done);
  }

  function caseNotice(el, html) {
    var box = el.querySelector(".live");
    if (box) box.innerHTML = html; // the server's escaped notice
  }

  function onLive(type, data, id) {
    if (id) live.last = Math.max(live.last || 0, Number(id));
    if (type === "badge") {
      var badge = document.getElementById("notice-badge");
      if (badge) badge.innerHTML = JSON.parse(data); // the server's escaped badge
    } else if (type === "inbox") {
      refreshInbox();
    } else if (type === "case") {
      var change = JSON.parse(data);
      document.querySelectorAll("[data-live-case]").forEach(function (el) {
        if (el.getAttribute("data-live-case") !== change["case"]) return;
        if (Number(el.getAttribute("data-live-version")) >= change.version) return;
        caseNotice(el, change.html);
      });
    } else if (type === "reload") { // too long away for a replay: the page may be behind
      refreshInbox();
      document.querySelectorAll("[data-live-case]").forEach(function (el) {
        caseNotice(el, '<p class="notice" role="status">This page may be out of date. ' +
          '<a href="">Show the latest state</a></p>');
      });
    }
  }

  function liveJoin() {
    if (live.joined || document.visibilityState === "hidden") return;
    var t = liveTopics();
    live.joined = JSON.stringify(t);
    if (live.port) {
      live.port.postMessage({type: "join", tab: live.tab, cases: t.cases, inbox: t.inbox,
                             last: live.last, user: document.body.getAttribute("data-live")});
      return;
    }
    var params = t.cases.map(function (c) { return "case=" + encodeURIComponent(c); });
    if (t.inbox) params.push("inbox=1");
    if (live.last !== null) params.push("last_id=" + live.last);
    var es = live.source = new EventSource("/events?" + params.join("&"));
    EVENTS.forEach(function (type) {
      es.addEventListener(type, function (e) { onLive(type, e.data, e.lastEventId); });
    });
    es.onerror = function () {
      if (es.readyState !== EventSource.CLOSED || live.source !== es) return;
      liveLeave(); // an error status (signed out, server starting): try again later
      setTimeout(liveJoin, 10000);
    };
  }

  function liveLeave() {
    if (!live.joined) return;
    live.joined = null;
    if (live.port) live.port.postMessage({type: "leave", tab: live.tab});
    if (live.source) live.source.close();
    live.source = null;
  }

  if (document.body && document.body.hasAttribute("data-live")) {
    document.querySelectorAll("[data-live-since]").forEach(function (el) {
      var since = Number(el.getAttribute("data-live-since"));
      if (live.last === null || since < live.last) live.last = since;
    });
    if (window.SharedWorker) {
      try {
        live.port = new SharedWorker("/static/live-worker.js", {name: "caseloop-live"}).port;
        live.port.onmessage = function (m) { onLive(m.data.type, m.data.data, m.data.id); };
      } catch (err) {
        live.port = null;
      }
    }
    liveJoin();
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") liveLeave(); else liveJoin();
    });
    window.addEventListener("pagehide", liveLeave);
    window.addEventListener("pageshow", function (e) { if (e.persisted) liveJoin(); });
    document.addEventListener("htmx:afterSettle", function () {
      // Another case or the inbox swapped in: follow what the page shows now.
      if (live.joined && live.joined !== JSON.stringify(liveTopics())) {
        liveLeave();
        liveJoin();
      }
    });
  }
})();
