// Tocsin's service worker: shows each page pushed to this browser as a notification, and
// acts on its buttons. Acknowledge posts the page's one-click acknowledge link; a tap opens
// the incident.
"use strict";

self.addEventListener("push", function (event) {
  var page = {};
  try {
    page = event.data ? event.data.json() : {};
  } catch (error) {
    page = { title: "Tocsin", body: event.data ? event.data.text() : "" };
  }
  var actions = [];
  if (page.ack_url) {
    actions.push({ action: "ack", title: "Acknowledge" });
  }
  if (page.url) {
    actions.push({ action: "open", title: "Open incident" });
  }
  event.waitUntil(
    self.registration.showNotification(page.title || "Tocsin", {
      body: page.body || "",
      tag: page.tag || undefined,
      renotify: true,
      requireInteraction: page.severity === "SEV-1" || page.severity === "SEV-2",
      data: { url: page.url, ack: page.ack_url },
      actions: actions,
    })
  );
});

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  if (event.action === "ack" && data.ack) {
    event.waitUntil(
      fetch(data.ack, { method: "POST", credentials: "omit" }).then(function (response) {
        return self.registration.showNotification(
          response.ok ? "Acknowledged" : "Not acknowledged: open the incident",
          { body: event.notification.title, tag: event.notification.tag }
        );
      })
    );
    return;
  }
  if (data.url) {
    event.waitUntil(self.clients.openWindow(data.url));
  }
});
