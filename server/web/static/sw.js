// The resident app's service worker (served from /sw.js: its scope covers /app). It keeps an
// offline shell (the page, its modules, the numbers to call) and shows pushed alarms as
// notifications whose buttons answer them.

const SHELL = "tenwatch-shell-v3";
const SHELL_FILES = [
  "/app",
  "/static/js/app.js",
  "/static/js/app-ring.js",
  "/static/js/app-more.js",
  "/static/js/app.css",
  "/static/js/stream.js",
  "/static/js/api.js",
  "/static/js/dom.js",
  "/static/js/words.js",
  "/static/js/catalogue.js",
  "/manifest.webmanifest",
  "/icon-192.png",
  "/icon-512.png",
];
const KEPT = new Set([...SHELL_FILES, "/api/me/numbers"]);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      .then((cache) => cache.addAll(SHELL_FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== SHELL).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// The network first (the page is always the newest), the kept copy when it can't be reached.
self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !KEPT.has(url.pathname)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(SHELL).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname).then((kept) => kept || Response.error())),
  );
});

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = { title: event.data ? event.data.text() : "" };
  }
  const options = {
    body: message.body || "",
    tag: message.tag,
    data: { url: message.url || "/app", token: message.answer_token, alert_id: message.alert_id },
    icon: "/icon-192.png",
    badge: "/icon-192.png",
    renotify: Boolean(message.tag),
  };
  if (message.type === "alert") {
    options.requireInteraction = true;
    options.vibrate = [400, 150, 400, 150, 400];
    options.actions = (message.actions || []).map((a) => ({ action: a.action, title: a.title }));
  }
  event.waitUntil(self.registration.showNotification(message.title || "十户联防", options));
});

// A click's work outlives the event only through waitUntil (which a synthetic event refuses).
function keepAlive(event, promise) {
  try {
    event.waitUntil(promise);
  } catch {
    /* not the browser's own event: the promise runs anyway */
  }
}

async function focusOrOpen(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((w) => new URL(w.url).pathname === new URL(url, self.location.origin).pathname);
  if (open) return open.focus();
  return self.clients.openWindow(url);
}

self.addEventListener("notificationclick", (event) => {
  const notification = event.notification;
  const data = notification.data || {};
  notification.close();
  if (event.action && data.token) {
    keepAlive(
      event,
      fetch("/api/push/answer", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ token: data.token, answer: event.action }),
      }).catch(() => focusOrOpen(data.url || "/app")),
    );
    return;
  }
  keepAlive(event, focusOrOpen(data.url || "/app"));
});
