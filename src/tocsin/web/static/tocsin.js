// Tocsin's only script: keeps the live parts of a page fresh and copies texts.
// Pages work without it; it adds what a responder would otherwise reload for.
(function () {
  "use strict";

  function refresh(element) {
    if (document.hidden) {
      return;
    }
    // Do not replace a part while someone is typing or choosing inside it.
    if (element.contains(document.activeElement) && document.activeElement !== document.body) {
      return;
    }
    // Bring the version we show: when nothing changed the server answers 304 with no body,
    // and the part stays as it is.
    var headers = { Accept: "text/html" };
    if (element.dataset.etag) {
      headers["If-None-Match"] = element.dataset.etag;
    }
    var etag = null;
    fetch(element.dataset.live, { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        if (response.status === 401) {
          window.location.reload();
          return null;
        }
        if (response.status === 304) {
          element.classList.remove("stale");
          element.dataset.checked = String(Date.now());
          return null;
        }
        etag = response.headers.get("ETag");
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          element.innerHTML = html;
          if (etag) {
            element.dataset.etag = etag;
          } else {
            delete element.dataset.etag;
          }
          element.classList.remove("stale");
          element.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function () {
        element.classList.add("stale");
      });
  }

  // "Go back" needs history, which only a script has (the CSP allows no javascript: links).
  function backLinks() {
    document.querySelectorAll("[data-back]").forEach(function (holder) {
      holder.hidden = false;
      holder.querySelector("a").addEventListener("click", function (event) {
        event.preventDefault();
        window.history.back();
      });
    });
  }

  // The profile page's "Push to this browser": register the service worker, subscribe with the
  // server's VAPID key, and hand the subscription to the server as a form with the CSRF token.
  function pushButton(button) {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      button.disabled = true;
      button.textContent = "This browser cannot receive push";
      return;
    }
    button.addEventListener("click", function () {
      var status = document.querySelector("#push-status");
      var key = button.dataset.key;
      var padded = (key + "===".slice((key.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
      var raw = Uint8Array.from(window.atob(padded), function (c) { return c.charCodeAt(0); });
      navigator.serviceWorker.register("/sw.js", { scope: "/" })
        .then(function () { return navigator.serviceWorker.ready; })
        .then(function (registration) {
          return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: raw });
        })
        .then(function (subscription) {
          var form = new URLSearchParams();
          form.set("csrf_token", button.dataset.csrf);
          form.set("name", document.querySelector("#push-name").value);
          form.set("subscription", JSON.stringify(subscription));
          // Not followed: the page it leads to is loaded below, showing the message it set.
          return fetch("/profile/push", {
            method: "POST", credentials: "same-origin", body: form, redirect: "manual",
          });
        })
        .then(function (response) {
          if (response.type === "opaqueredirect" || response.ok) {
            window.location.assign("/profile");
          } else {
            return response.text().then(function (text) { status.textContent = text; });
          }
        })
        .catch(function (error) {
          status.textContent = "Push was not enabled: " + error.message;
        });
    });
  }

  function start() {
    backLinks();
    document.querySelectorAll("#push-enable").forEach(pushButton);
    document.querySelectorAll("[data-live]").forEach(function (element) {
      var seconds = Number(element.dataset.every) || 5;
      window.setInterval(function () { refresh(element); }, seconds * 1000);
    });
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.querySelector(button.dataset.copy);
        if (!source) {
          return;
        }
        var done = function () {
          button.textContent = "Copied";
          window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(source.value).then(done);
        } else {
          source.select();
          document.execCommand("copy");
          done();
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
