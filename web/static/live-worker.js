// Caseloop live updates, shared by all tabs of this browser: ONE EventSource to /events for
// every visible tab, however many are open (browsers allow 6 connections per host; each tab with
// its own stream used them up and froze the app). Tabs join with what they show (case ids, the
// inbox) and the last event id they saw, and leave when hidden or closed (app.js).
"use strict";

var tabs = {};        // tab id -> {port, cases, inbox, last}
var source = null;    // the EventSource, while any tab has joined
var opened = "";      // the topics (query string) `source` was opened with
var position = null;  // the last event id `source` delivered
var badge = null;     // the badge as last sent (a tab that joins gets it at once)
var user = null;      // who the stream is for (a sign-in as someone else reopens it)
var retryTimer = null;
var retryDelay = 2000;
var MAX_CASES = 50;   // as the server allows
var EVENTS = ["badge", "inbox", "case", "reload", "position"];

function topics() {
  var cases = {}, inbox = false;
  Object.keys(tabs).forEach(function (id) {
    tabs[id].cases.forEach(function (c) { cases[c] = true; });
    inbox = inbox || tabs[id].inbox;
  });
  var params = Object.keys(cases).sort().slice(0, MAX_CASES).map(function (c) {
    return "case=" + encodeURIComponent(c);
  });
  if (inbox) params.push("inbox=1");
  return params.join("&");
}

function oldest() {
  // The stream must replay from the oldest position any tab still needs.
  var low = position;
  Object.keys(tabs).forEach(function (id) {
    var last = tabs[id].last;
    if (last !== null && (low === null || last < low)) low = last;
  });
  return low;
}

function close() {
  if (source) source.close();
  source = null;
  opened = "";
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
}

function open() {
  close();
  if (!Object.keys(tabs).length) { position = null; return; }
  var from = oldest();
  position = from;
  opened = topics();
  var query = opened + (from !== null ? (opened ? "&" : "") + "last_id=" + from : "");
  var es = new EventSource("/events" + (query ? "?" + query : ""));
  source = es;
  es.onopen = function () { retryDelay = 2000; };
  EVENTS.forEach(function (type) {
    es.addEventListener(type, function (e) {
      var seq = e.lastEventId ? Number(e.lastEventId) : null;
      if (seq !== null) position = Math.max(position || 0, seq);
      if (type === "badge") badge = e.data;
      var message = {type: type, data: e.data, id: e.lastEventId};
      Object.keys(tabs).forEach(function (id) {
        var tab = tabs[id];
        if (seq !== null && (tab.last === null || tab.last < seq)) tab.last = seq;
        tab.port.postMessage(message);
      });
    });
  });
  es.onerror = function () {
    // While CONNECTING the browser retries by itself (sending Last-Event-ID). CLOSED means it
    // gave up (an error status: signed out, server starting): try again later, slower each time.
    if (es !== source || es.readyState !== EventSource.CLOSED) return;
    source = null;
    retryTimer = setTimeout(open, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 60000);
  };
}

function join(port, message) {
  var tab = tabs[message.tab] = {
    port: port,
    cases: message.cases || [],
    inbox: !!message.inbox,
    last: typeof message.last === "number" ? message.last : null
  };
  // A topic the stream does not carry, or a tab that missed what the stream already sent:
  // reopen, replaying from the oldest position needed (the others ignore what they have).
  var behind = tab.last !== null && (position === null || tab.last < position);
  var someoneElse = message.user !== user;
  user = message.user;
  if ((!source && !retryTimer) || topics() !== opened || behind || someoneElse) open();
  else if (badge !== null) port.postMessage({type: "badge", data: badge, id: ""});
}

function leave(message) {
  delete tabs[message.tab];
  if (!Object.keys(tabs).length) { close(); position = null; badge = null; }
}

self.onconnect = function (e) {
  var port = e.ports[0];
  port.onmessage = function (m) {
    if (m.data.type === "join") join(port, m.data);
    else if (m.data.type === "leave") leave(m.data);
  };
};
