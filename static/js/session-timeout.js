/* Alliance CRM: warn before the idle sign-out and let the person stay signed in.
 *
 * The server signs a session out after SESSION_IDLE_TIMEOUT_SECONDS without a request
 * (accounts.middleware.SessionPolicyMiddleware). This file shows the notice rendered hidden in
 * base.html a little before that, counts down, and on "Stay signed in" posts to the keep-alive
 * endpoint, which renews the timer. When time is up it reloads the page: the server then signs
 * the session out and shows the sign-in page. No inline script: everything comes from data-*.
 */
(function () {
  "use strict";

  var notice = document.getElementById("session-timeout");
  if (!notice) {
    return;
  }
  var idleMs = Number(notice.dataset.idleSeconds) * 1000;
  var warningMs = Number(notice.dataset.warningSeconds) * 1000;
  var keepAliveUrl = notice.dataset.keepAliveUrl;
  var csrfToken = notice.dataset.csrfToken;
  var countdown = notice.querySelector("[data-session-countdown]");
  var stayButton = notice.querySelector("[data-session-stay]");
  // The server keeps "last seen" to within 15 s: reload a little after its timeout, never before.
  var graceMs = 2000;
  var deadline = 0;
  var warnTimer = null;
  var expireTimer = null;
  var tickTimer = null;

  function hide() {
    notice.hidden = true;
    window.clearInterval(tickTimer);
  }

  function tick() {
    var seconds = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    countdown.textContent = String(seconds);
  }

  function show() {
    tick();
    notice.hidden = false;
    tickTimer = window.setInterval(tick, 1000);
    stayButton.focus();
  }

  function expire() {
    window.location.reload();
  }

  function restart() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(expireTimer);
    hide();
    deadline = Date.now() + idleMs;
    warnTimer = window.setTimeout(show, Math.max(0, idleMs - warningMs));
    expireTimer = window.setTimeout(expire, idleMs + graceMs);
  }

  function stay() {
    stayButton.disabled = true;
    window
      .fetch(keepAliveUrl, {
        method: "POST",
        credentials: "same-origin",
        redirect: "manual",
        headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
      })
      .then(function (response) {
        if (response.ok) {
          restart();
        } else {
          expire();
        }
      })
      .catch(expire)
      .finally(function () {
        stayButton.disabled = false;
      });
  }

  stayButton.addEventListener("click", stay);
  // Every htmx request reaches the server, and so renews the session there too.
  document.body.addEventListener("htmx:afterRequest", restart);
  restart();
})();
