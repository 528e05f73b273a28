// The resident app: a neighbour's alarm first, with the three answers large; my own alarm's
// status with the cancel countdown and a PIN pad; the help button (press and hold) otherwise;
// and, when the service can't be reached, the numbers to call or text instead.

import { api, Refused } from "./api.js";
import { h, fill } from "./dom.js";
import { load, t, toggle } from "./words.js";
import { Stream } from "./stream.js";
import { Ringer } from "./app-ring.js";
import { ago, showRecent, wireMore } from "./app-more.js";

const HOLD_MS = 1000;
// The community's cancel window comes with GET /api/me; before it is known, the default.
const CANCEL_SECONDS = 120;
const OFFLINE_AFTER_MS = 10000;
const CLOSED = new Set(["resolved", "cancelled"]);
const RECENT_MS = 10 * 60 * 1000;
const ME_KEY = "tw.app.me";
const NUMBERS_KEY = "tw.app.numbers";

const $ = (id) => document.getElementById(id);
const state = {
  me: null,
  numbers: null,
  alerts: new Map(), // id → what this page knows of each open alarm of the group
  answers: new Map(), // id → my household's answer
  type: "help",
  pin: "",
  offline: false,
  stream: "connecting",
  busy: false,
};
const ringer = new Ringer();

// -- what is kept on the phone (for a start without the service) ---------------------------

function keep(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* private mode: kept for this page only */
  }
}

function kept(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

const unreachable = (error) => !(error instanceof Refused);

function setOffline(offline) {
  if (state.offline === offline) return;
  state.offline = offline;
  render();
}

// -- the alarms ----------------------------------------------------------------------------

const isOwn = (a) => state.me && a.household && a.household === state.me.household;

function merge(summary) {
  const known = state.alerts.get(summary.id) || {};
  const a = { ...known, ...summary };
  if (CLOSED.has(a.status)) state.alerts.delete(a.id);
  else state.alerts.set(a.id, a);
  return a;
}

async function detail(id) {
  try {
    const found = await api("GET", `/api/alerts/${id}`);
    const mine = (found.responses || []).find((r) => r.household === state.me?.household);
    if (mine) state.answers.set(id, mine.answer);
    merge(found);
    render();
  } catch {
    /* the event already told what matters */
  }
}

async function refresh() {
  const open = await api("GET", "/api/alerts");
  state.alerts.clear();
  for (const a of open) merge(a);
  await Promise.all(open.filter((a) => !isOwn(a)).map((a) => detail(a.id)));
  const ringing = neighbours().find((a) => !state.answers.has(a.id));
  if (ringing) ring(ringing);
  render();
}

function neighbours() {
  return [...state.alerts.values()]
    .filter((a) => !isOwn(a))
    .sort((x, y) => Number(state.answers.has(x.id)) - Number(state.answers.has(y.id)) || y.id - x.id);
}

function own() {
  return [...state.alerts.values()].filter(isOwn).sort((x, y) => y.id - x.id)[0] || null;
}

function ring(a) {
  if (state.answers.has(a.id)) return;
  ringer.start({ quiet: a.type === "intrusion", id: a.id });
}

function onEvent(event, { replayed }) {
  const data = event.data || {};
  const known = state.alerts.has(event.alert_id);
  const before = state.alerts.get(event.alert_id) || { id: event.alert_id, created_at: event.at };
  const a = {
    ...before,
    status: data.status ?? before.status,
    type: data.alert_type ?? before.type,
    household: data.household ?? before.household,
    drill: data.drill ?? before.drill,
  };
  if (event.type === "alert.raised") {
    a.raised_by = data.raised_by ?? a.raised_by;
    a.neighbours = data.neighbours ?? a.neighbours;
    a.created_at = event.at;
  } else if (event.type === "alert.response") {
    a.coming = data.coming ?? a.coming;
    a.neighbours = data.neighbours ?? a.neighbours;
    if (data.responder && data.responder === state.me?.household) {
      state.answers.set(a.id, data.answer); // answered here, or on another of our phones
      if (ringer.id === a.id) ringer.stop();
    }
  } else if (event.type === "alert.acknowledged") {
    a.taken_by = data.taken_by ?? "";
  } else if (event.type === "alert.on_scene") {
    a.on_scene_at = event.at;
  } else if (event.type === "alert.escalated") {
    a.escalated = data.level;
  }
  merge(a);
  const closed = CLOSED.has(a.status);
  if (closed) {
    if (ringer.id === a.id) ringer.stop();
    if (isOwn(a) || known) say(t("app.closed") + " · " + (a.household || ""));
    if ($("more").open) showRecent();
  } else if (!isOwn(a)) {
    const fresh = !replayed || Date.now() - Date.parse(event.at) < RECENT_MS;
    if (!known) detail(a.id);
    if (fresh && (!known || event.type === "alert.escalated") && !state.answers.has(a.id)) ring(a);
  }
  render();
}

// -- the page ------------------------------------------------------------------------------

function say(text) {
  $("message").textContent = text;
}

function words() {
  for (const node of document.querySelectorAll("[data-word]")) node.textContent = t(node.dataset.word);
  document.title = t("app.page_title");
}

function statusLine(a) {
  const parts = [t("app.notified", { n: a.neighbours ?? 0 })];
  parts.push(a.coming ? t("app.coming", { n: a.coming }) : t("app.none_coming"));
  if (a.on_scene_at) parts.push(t("app.on_scene"));
  else if (a.taken_by != null || a.status === "acknowledged") parts.push(t("app.taken"));
  else if (a.escalated === "patrol" || a.escalated === "police") parts.push(t("app.escalated"));
  return parts.join(" · ");
}

function emergencyFor(type) {
  if (type === "medical") return ["medical"];
  if (type === "fire") return ["fire"];
  if (type === "intrusion" || type === "dispute") return ["police"];
  return ["police", "medical"];
}

let fallbackShown = "";

function renderFallback(type) {
  const numbers = state.numbers || { group_number: null, emergency: {} };
  // Built again only when what it shows changes: a link replaced under a finger loses the tap.
  const shown = JSON.stringify([type, numbers, t("app.call_group"), state.me?.household]);
  if (shown === fallbackShown) return;
  fallbackShown = shown;
  const group = numbers.group_number;
  const address = state.me?.household || "";
  $("call-group").hidden = !group;
  $("text-group").hidden = !group;
  if (group) {
    $("call-group").href = `tel:${group}`;
    $("text-group").href = `sms:${group}?body=${encodeURIComponent(t("app.sms_body", { address }))}`;
  }
  fill(
    $("emergency"),
    emergencyFor(type)
      .filter((service) => numbers.emergency?.[service])
      .map((service) => {
        const number = numbers.emergency[service];
        return h("a", { class: "call", href: `tel:${number}`, dataset: { service } }, `${t(`app.call.${service}`)} ${number}`);
      }),
  );
}

function render() {
  const others = neighbours();
  const first = others[0];
  $("alarm").hidden = !first;
  if (first) {
    const who = [first.household, first.raised_by].filter(Boolean).join(" ");
    const kind = t(`type.${first.type || "help"}`);
    $("alarm-title").textContent = `${who} · ${kind}${first.drill ? ` (${t("app.drill")})` : ""}`;
    $("alarm-ago").textContent = ago(first.created_at);
    $("alarm-quiet").hidden = first.type !== "intrusion";
    const answer = state.answers.get(first.id);
    for (const button of document.querySelectorAll("[data-answer]")) {
      button.setAttribute("aria-pressed", String(button.dataset.answer === answer));
      button.disabled = state.busy;
    }
    $("alarm-mine").textContent = answer ? t("app.answered", { answer: t(`app.answer.${answer}`) }) : "";
    $("alarm-more").textContent = others.length > 1 ? t("app.more", { n: others.length - 1 }) : "";
    $("silence").hidden = ringer.id !== first.id;
  }
  const mine = own();
  $("mine").hidden = !mine;
  if (mine) {
    $("mine-status").textContent = statusLine(mine);
    const cancelSeconds = state.me?.cancel_seconds ?? CANCEL_SECONDS;
    const left = Math.ceil((Date.parse(mine.created_at) + cancelSeconds * 1000 - Date.now()) / 1000);
    $("mine-countdown").textContent = left > 0 ? t("app.cancel_in", { s: left }) : t("app.cancel_closed");
    $("pin-shown").textContent = "•".repeat(state.pin.length);
  }
  // The second screen is for quiet times: while an alarm shows, nothing is below the action.
  $("more").hidden = state.me?.kind !== "resident" || Boolean(mine || first);
  const help = $("help");
  help.hidden = Boolean(mine) && !state.offline;
  help.classList.toggle("stepped-back", Boolean(first));
  $("hold-label").textContent = t(first ? "app.hold_also" : "app.hold");
  $("hold-hint").hidden = Boolean(first);
  $("fallback").hidden = !state.offline;
  if (state.offline) renderFallback(mine?.type || state.type);
  for (const button of document.querySelectorAll("[data-type]")) {
    button.setAttribute("aria-checked", String(button.dataset.type === state.type));
  }
  const pill = $("status");
  const shown = state.offline ? "offline" : state.stream;
  pill.className = `status ${shown}`;
  pill.textContent = t(`app.${shown}`);
}

// -- acts ------------------------------------------------------------------------------------

async function answer(kind) {
  const first = neighbours()[0];
  if (!first || state.busy) return;
  state.busy = true;
  render();
  try {
    const step = await api("POST", `/api/alerts/${first.id}/responses`, { json: { answer: kind } });
    state.answers.set(first.id, kind);
    if (step?.alert) merge(step.alert);
    if (ringer.id === first.id) ringer.stop();
    say("");
  } catch (error) {
    if (unreachable(error)) setOffline(true);
    say(error.message);
  } finally {
    state.busy = false;
    render();
  }
}

function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function press() {
  const hold = $("hold");
  hold.disabled = true;
  $("hold-label").textContent = t("app.hold_sending");
  try {
    const raised = await api("POST", "/api/alerts", {
      json: { type: state.type },
      headers: { "Idempotency-Key": randomKey() },
    });
    merge({ ...raised.alert, neighbours: raised.neighbours ?? raised.alert.neighbours });
    state.pin = "";
    say("");
  } catch (error) {
    if (unreachable(error)) setOffline(true);
    say(error.message);
  } finally {
    hold.disabled = false;
    render();
  }
}

function wireHold() {
  const hold = $("hold");
  let timer = null;
  const begin = (event) => {
    event.preventDefault();
    if (timer || hold.disabled) return;
    hold.classList.add("holding");
    timer = setTimeout(() => {
      timer = null;
      hold.classList.remove("holding");
      press();
    }, HOLD_MS);
  };
  const end = () => {
    if (!timer) return;
    clearTimeout(timer);
    timer = null;
    hold.classList.remove("holding");
  };
  hold.addEventListener("pointerdown", (event) => {
    hold.setPointerCapture?.(event.pointerId);
    begin(event);
  });
  for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) hold.addEventListener(name, end);
  hold.addEventListener("contextmenu", (event) => event.preventDefault());
  // The finger that held lifts over whatever the press put there (the PIN pad): no click.
  hold.addEventListener("touchend", (event) => event.preventDefault(), { passive: false });
  hold.addEventListener("keydown", (event) => {
    if ((event.key === " " || event.key === "Enter") && !event.repeat) begin(event);
  });
  hold.addEventListener("keyup", end);
}

async function cancel() {
  const mine = own();
  if (!mine) return;
  if (!/^[0-9]{4,8}$/.test(state.pin)) {
    say(t("app.pin_digits"));
    return;
  }
  const pin = state.pin;
  state.pin = "";
  render();
  try {
    await api("POST", `/api/alerts/${mine.id}/cancel`, { json: { pin } });
    // What the request answered, never how the alarm looks after: a duress PIN looks the same.
    state.alerts.delete(mine.id);
    say(t("app.cancelled"));
  } catch (error) {
    if (unreachable(error)) setOffline(true);
    say(error.message);
  }
  render();
}

function wirePad() {
  $("pad").addEventListener("click", (event) => {
    const key = event.target.closest("button");
    if (!key) return;
    if (key.dataset.digit !== undefined) {
      if (state.pin.length < 8) state.pin += key.dataset.digit;
    } else if (key.id === "pin-clear") {
      state.pin = state.pin.slice(0, -1);
    } else if (key.id === "pin-ok") {
      cancel();
      return;
    }
    render();
  });
}

// -- the service worker and push ------------------------------------------------------------

function applicationKey(base64) {
  const padded = (base64 + "=".repeat((4 - (base64.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function subscribe(registration) {
  // Only where the service offers push (GET /api/push/key answers a key); quiet otherwise.
  try {
    if (!("PushManager" in window) || !window.Notification) return;
    const answer = await fetch("/api/push/key", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!answer.ok) return;
    const body = await answer.json();
    const key = body?.key || body?.public_key;
    if (!key) return;
    if (Notification.permission === "default") await Notification.requestPermission();
    if (Notification.permission !== "granted") return;
    const subscription =
      (await registration.pushManager.getSubscription()) ||
      (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: applicationKey(key) }));
    await api("POST", "/api/push/subscriptions", { json: subscription.toJSON() });
  } catch {
    /* push is a help, not a need: the socket and the texts still reach this phone */
  }
}

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch {
    return null;
  }
}

// -- start ---------------------------------------------------------------------------------

function wire() {
  wireHold();
  wirePad();
  for (const button of document.querySelectorAll("[data-answer]")) {
    button.addEventListener("click", () => answer(button.dataset.answer));
  }
  for (const button of document.querySelectorAll("[data-type]")) {
    button.addEventListener("click", () => {
      state.type = button.dataset.type;
      render();
    });
  }
  $("silence").addEventListener("click", () => {
    ringer.stop();
    render();
  });
  $("language").addEventListener("click", async () => {
    await toggle();
    words();
    render();
  });
  window.addEventListener("offline", () => setOffline(true));
  window.addEventListener("online", () => checkService());
  setInterval(() => {
    if (state.stream !== "online" && state.downSince && Date.now() - state.downSince > OFFLINE_AFTER_MS) setOffline(true);
    render();
  }, 1000);
}

async function checkService() {
  try {
    await api("GET", "/healthz");
    if (state.stream === "online") setOffline(false);
  } catch {
    setOffline(true);
  }
}

function follow() {
  const stream = new Stream({
    key: state.me.channel,
    onStatus: ({ state: now, since }) => {
      state.stream = now === "refused" ? "refused" : now;
      state.downSince = now === "online" ? null : since;
      if (now === "online") setOffline(!navigator.onLine);
      render();
    },
    onHello: (hello, { resumed }) => {
      if (!resumed) refresh().catch(() => {});
    },
    onEvent,
  });
  stream.start();
  return stream;
}

async function start() {
  wire();
  await load();
  words();
  state.me = kept(ME_KEY);
  state.numbers = kept(NUMBERS_KEY);
  try {
    state.me = await api("GET", "/api/me");
    keep(ME_KEY, state.me);
  } catch (error) {
    if (unreachable(error)) setOffline(true);
    else say(error.message);
  }
  try {
    state.numbers = await api("GET", "/api/me/numbers");
    keep(NUMBERS_KEY, state.numbers);
  } catch (error) {
    if (unreachable(error)) setOffline(true);
  }
  $("home").textContent = state.me?.household || t("app.page_title");
  wireMore(state.me);
  if (state.me && state.me.kind !== "resident") {
    $("hold").disabled = true;
    say(t("app.staff"));
  }
  render();
  const registration = await registerWorker();
  if (state.me && !state.offline) {
    follow();
    if (registration) ringer.onFirstTap(() => subscribe(registration));
  }
}

start();
