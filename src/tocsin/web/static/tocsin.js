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

  function start() {
    backLinks();
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
