// durable dashboard: live updates of an instance page, and its forms sent without a reload.
// Pages work without this script (forms post and redirect back); it only makes them nicer.
(function () {
  "use strict";

  var POLL_MS = 1000;
  var MAX_BACKOFF_MS = 10000;
  var timer = null;
  var failures = 0;
  var lastHtml = null;

  function summary() { return document.getElementById("live-summary"); }

  function say(message, problem) {
    var notice = document.getElementById("notice");
    if (!notice) return;
    notice.textContent = message || "";
    notice.classList.toggle("is-problem", !!problem);
  }

  // Show only the actions that make sense in the instance's current state.
  function applyState() {
    var live = summary();
    var actions = document.getElementById("actions");
    if (!live || !actions) return;
    var state = live.getAttribute("data-state");
    actions.querySelectorAll("[data-when]").forEach(function (el) {
      el.hidden = el.getAttribute("data-when").split(" ").indexOf(state) < 0;
    });
  }

  // Replace each [data-live] part by the fresh one, keeping <details> the reader opened.
  function swap(html) {
    if (html === lastHtml) return;
    lastHtml = html;
    var open = [];
    document.querySelectorAll("[data-live] details[open][id]").forEach(function (d) { open.push(d.id); });
    var template = document.createElement("template");
    template.innerHTML = html;
    template.content.querySelectorAll("[data-live]").forEach(function (fresh) {
      var old = document.getElementById(fresh.id);
      if (old) old.replaceWith(fresh);
    });
    open.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.open = true;
    });
    applyState();
  }

  function terminal() {
    var live = summary();
    return !live || live.getAttribute("data-terminal") === "true";
  }

  function schedule(delay) {
    if (timer !== null || terminal() || document.hidden) return;
    timer = window.setTimeout(poll, delay || POLL_MS);
  }

  function poll() {
    timer = null;
    var live = summary();
    var src = live && live.getAttribute("data-src");
    if (!src) return;
    fetch(src, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401) throw new Error("signed-out");
        if (response.status === 404) throw new Error("gone");
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        failures = 0;
        swap(html);
        schedule();
      })
      .catch(function (error) {
        if (error.message === "signed-out") { say("Your session has ended: reload the page to sign in again.", true); return; }
        if (error.message === "gone") { say("This instance no longer exists.", true); return; }
        failures += 1;
        if (failures === 3) say("Live updates are retrying: the server cannot be reached.", true);
        schedule(Math.min(POLL_MS * Math.pow(2, failures), MAX_BACKOFF_MS));
      });
  }

  function refreshNow() {
    if (timer !== null) { window.clearTimeout(timer); timer = null; }
    poll();
  }

  function freshKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function submit(form, event) {
    event.preventDefault();
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString()
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        say(answer.body.message, !answer.ok);
        if (!answer.ok) return;
        form.querySelector("input[name=key]").value = freshKey();
        var live = summary();
        if (form.getAttribute("data-action") === "restart" || !(live && live.getAttribute("data-src"))) {
          // A new run, or an earlier run on screen: show the current run.
          window.location.assign(document.getElementById("actions").getAttribute("data-current"));
          return;
        }
        refreshNow();
      })
      .catch(function () { say("The server could not be reached; nothing was sent.", true); })
      .then(function () { button.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-action]").forEach(function (form) {
      form.addEventListener("submit", function (event) { submit(form, event); });
    });
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refreshNow(); });
    applyState();
    schedule();
  });
})();
