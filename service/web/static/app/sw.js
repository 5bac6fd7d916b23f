// Service worker of the member app: pages always come from the network (they show money,
// which must never be stale); when the network is gone, the offline page is shown instead.
const CACHE = "clo-app-v1";
const OFFLINE = "/app/offline";
const SHELL = [OFFLINE, "/static/css/base.css", "/static/app/app.css", "/static/app/icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
    return;
  }
  const url = new URL(request.url);
  if (url.origin === self.location.origin && SHELL.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(url.pathname)));
  }
});

// Web Push: the server sends {title, body, url} encrypted for this browser; show it, and
// open the page it names when tapped.
self.addEventListener("push", (event) => {
  let message = { title: "Cashback", body: "", url: "/app/notifications" };
  try {
    message = Object.assign(message, event.data ? event.data.json() : {});
  } catch (e) {
    message.body = event.data ? event.data.text() : "";
  }
  event.waitUntil(
    self.registration.showNotification(message.title, {
      body: message.body,
      icon: "/static/app/icon-192.png",
      data: { url: message.url },
      tag: "clo-cashback",
      renotify: true
    })
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/app/notifications";
  event.waitUntil(self.clients.openWindow(url));
});
