// The staff's board (/board): a dense list of the open alarms, sortable and filterable, a
// detail pane for the one selected (actions, call back, timeline), the closed alarms' history,
// and the live stream keeping both up to date. `?kiosk=1` is the wall screen's larger type; on
// a phone the list is stacked rows and the detail a full screen with a back button.

import { api } from "./api.js";
import { showConsent } from "./consent.js";
import { $, fill, h } from "./dom.js";
import { Stream } from "./stream.js";
import * as words from "./words.js";
import { clock, w } from "./board-words.js";
import { deliveryLines, renderRecipients } from "./recipients.js";
import { arrange, header, OPEN_STATES, OUTCOMES, passes, row, SORTS, tick, TYPES } from "./board-list.js";
import { render } from "./board-detail.js";
import { showHealth } from "./board-health.js";

const HISTORY_PAGE = 50;
const DRAFTS = ["note-text", "resolve-note", "resolve-outcome", "reassign-to"];
const state = {
  me: null,
  tab: "open",
  open: new Map(), // id → alarm
  history: [],
  historyFull: false,
  selected: null, // id
  detail: null, // GET /api/alerts/{id} of the selected
  events: [],
  patrol: [],
  sort: "age",
  filters: { type: "", state: "", grid: "", q: "" },
  loaded: false,
  health: null, // the health strip (js/board-health.js)
};

function say(text, kind = "ok") {
  const status = $("#status");
  status.textContent = text;
  status.className = "status " + (text ? kind : "");
}

function options(select, values, label, { all = true, selected = "" } = {}) {
  fill(
    select,
    all ? h("option", { value: "" }, w("filter.all")) : null,
    values.map(([value, text]) => h("option", { value, selected: value === selected }, text ?? label(value))),
  );
  select.value = selected;
}

// -- the list ----------------------------------------------------------------------------------

function shown() {
  if (state.tab === "history") return state.history.filter((a) => passes(a, { ...state.filters, state: "" }));
  return [...state.open.values()].filter((a) => passes(a, state.filters));
}

function grids() {
  const known = new Map();
  for (const a of [...state.open.values(), ...state.history]) if (a.grid_id) known.set(String(a.grid_id), a.grid || "#" + a.grid_id);
  return [...known.entries()].sort((x, y) => x[1].localeCompare(y[1], "zh"));
}

function drawList() {
  const history = state.tab === "history";
  const list = $("#list");
  const alarms = arrange(shown(), history ? "age" : state.sort);
  fill(
    list,
    alarms.map(({ alert, child }) =>
      row(alert, { child, history, selected: alert.id === state.selected, onPick: (id) => select(id) }),
    ),
  );
  fill($("#head"), header());
  const empty = $("#empty");
  empty.hidden = alarms.length > 0 || !state.loaded;
  empty.textContent = w(history ? "empty.history" : "empty.open");
  $("#more").hidden = !history || !state.historyFull;
  $("#tab-open").textContent = w("tab.open", { n: state.open.size });
  const gridSelect = $("#f-grid");
  options(gridSelect, grids(), null, { selected: state.filters.grid });
  document.body.dataset.count = String(alarms.length);
  const untaken = [...state.open.values()].filter((a) => a.status === "open" && !a.drill).length;
  document.body.dataset.untaken = String(untaken);
  document.title = (untaken ? `(${untaken}) ` : "") + w("title"); // seen from another tab too
}

async function loadOpen() {
  const found = await api("GET", "/api/alerts?limit=1000");
  state.open = new Map(found.map((a) => [a.id, a]));
  state.loaded = true;
}

function historyQuery(beforeId) {
  const p = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  const since = $("#f-since").value;
  const until = $("#f-until").value;
  if (since) p.set("since", new Date(since + "T00:00:00").toISOString());
  if (until) p.set("until", new Date(new Date(until + "T00:00:00").getTime() + 86400000).toISOString());
  if (state.filters.type) p.set("type", state.filters.type);
  if (state.filters.grid) p.set("grid_id", state.filters.grid);
  if ($("#f-outcome").value) p.set("outcome", $("#f-outcome").value);
  if (state.filters.q) p.set("q", state.filters.q);
  if (beforeId) p.set("before_id", String(beforeId));
  return "/api/alerts/history?" + p.toString();
}

async function loadHistory(more = false) {
  const before = more && state.history.length ? state.history[state.history.length - 1].id : null;
  const found = await api("GET", historyQuery(before));
  state.history = more ? [...state.history, ...found] : found;
  state.historyFull = found.length === HISTORY_PAGE;
  drawList();
}

// -- the detail pane -----------------------------------------------------------------------------

function selectedAlarm() {
  const id = state.selected;
  if (id === null) return null;
  return state.open.get(id) || state.history.find((a) => a.id === id) || (state.detail && state.detail.id === id ? state.detail : null);
}

function drawDetail() {
  const alert = selectedAlarm();
  const pane = $("#detail");
  const recipients = $("#recipients");
  if (!alert) {
    fill(pane, h("p", { class: "pick" }, w("pick")));
    delete pane.dataset.alertId;
    recipients.hidden = true;
    delete recipients.dataset.alertId;
    showRecipients(null);
    return;
  }
  // What a person was typing or choosing outlives a redraw (an event of the alarm arriving).
  const same = pane.dataset.alertId === String(alert.id);
  const kept = same ? DRAFTS.map((id) => [id, pane.querySelector("#" + id)?.value]) : [];
  const focused = same && pane.contains(document.activeElement) ? document.activeElement.id : null;
  fill(pane, render({ alert, detail: state.detail, events: state.events, patrol: state.patrol, act }));
  pane.dataset.alertId = String(alert.id);
  for (const [id, value] of kept) {
    const el = pane.querySelector("#" + id);
    if (el && value !== undefined && [...(el.options || [{ value }])].some((o) => o.value === value)) el.value = value;
  }
  if (focused) pane.querySelector("#" + focused)?.focus();
  document.body.dataset.shown = state.detail && state.detail.id === alert.id ? String(alert.id) : "";
  recipients.hidden = false;
  recipients.dataset.alertId = String(alert.id);
  if (state.me?.kind === "staff") showRecipients(alert.id);
}

async function loadDetail(id, { full = true } = {}) {
  const [detail, events] = await Promise.all([
    full || !state.detail ? api("GET", `/api/alerts/${id}`) : Promise.resolve(state.detail),
    api("GET", `/api/alerts/${id}/timeline`),
  ]);
  if (state.selected !== id) return;
  state.detail = detail;
  state.events = events;
  if (full && state.open.has(id)) {
    if (OPEN_STATES.includes(detail.status)) state.open.set(id, { ...state.open.get(id), ...pick(detail) });
    else state.open.delete(id);
  }
  if (full) drawList();
  drawDetail();
}

/** An alarm's list fields from its detail (the detail has more, the list keeps the board's). */
function pick(detail) {
  const { responses, responder, raiser_phone, ...rest } = detail;
  return rest;
}

async function select(id) {
  state.selected = id;
  state.detail = null;
  state.events = [];
  document.body.dataset.view = "detail";
  document.body.dataset.selected = String(id);
  drawList();
  drawDetail();
  window.dispatchEvent(new CustomEvent("board:select", { detail: { alertId: id } }));
  try {
    await loadDetail(id);
  } catch (error) {
    say(error.message, "error");
  }
}

async function act(step, body) {
  const id = state.selected;
  try {
    const answer = await api("POST", `/api/alerts/${id}/${step}`, { json: body || {} });
    const alert = answer.alert;
    if (OPEN_STATES.includes(alert.status)) state.open.set(id, { ...(state.open.get(id) || {}), ...alert });
    else {
      state.open.delete(id);
      const i = state.history.findIndex((a) => a.id === id);
      if (i >= 0) state.history[i] = alert;
    }
    say(w("act.done"));
    for (const el of document.querySelectorAll("#detail textarea, #detail input")) el.value = ""; // sent
    await refreshOpen();
    await loadDetail(id, { full: step !== "notes" });
  } catch (error) {
    say(error.message, "error");
  }
}

// -- live ----------------------------------------------------------------------------------------

let refreshing = null;
let again = false;

/** Reload the open list (once at a time; a burst of events costs one more reload at most). */
async function refreshOpen() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      const before = new Set(state.open.keys());
      await loadOpen();
      const fresh = [...state.open.keys()].some((id) => !before.has(id));
      if (fresh && state.beep) beep();
    } while (again);
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
  }
  drawList();
  if (state.selected !== null && !selectedAlarm()) drawDetail();
}

const pending = new Set();
let timer = null;

// The recipient table of the selected alarm (js/recipients.js), fed the stream's events.
let table = null;
let tableOf = null;

async function showRecipients(id) {
  if (tableOf === id) return;
  table?.destroy();
  table = null;
  tableOf = id;
  if (id === null) return;
  const shown = await renderRecipients($("#recipients"), id).catch(() => null);
  if (tableOf === id) table = shown;
  else shown?.destroy();
}

// One line per change that matters: a receipt only when it fails or settles the last text.
const LOG_KEPT = 40;
const LOGGED = new Set(["alert.raised", "alert.confirmed", "alert.acknowledged", "alert.on_scene", "alert.escalated", "alert.resolved", "alert.cancelled", "alert.duress"]);

function logLines(event) {
  if (event.type === "alert.delivery") return deliveryLines(event);
  if (!LOGGED.has(event.type)) return [];
  const d = event.data || {};
  return [[d.household || d.caller || "?", w("ev." + event.type)].join(" · ")];
}

function log(event) {
  const lines = logLines(event);
  if (!lines.length) return;
  const list = $("#log-lines");
  for (const line of lines) {
    list.prepend(h("li", { class: event.type === "alert.delivery" ? "delivery" : "" }, h("time", {}, clock(event.at)), " ", line));
  }
  while (list.children.length > LOG_KEPT) list.lastElementChild.remove();
}

function heard(event) {
  table?.apply(event);
  log(event);
  if (typeof event.alert_id !== "number") return;
  pending.add(event.alert_id);
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const ids = [...pending];
    pending.clear();
    try {
      await refreshOpen();
      if (state.selected !== null && ids.includes(state.selected)) {
        const full = !state.open.has(state.selected) || !state.detail || OPEN_STATES.includes(state.detail.status) === false;
        await loadDetail(state.selected, { full });
      }
    } catch (error) {
      say(error.message, "error");
    }
  }, 150);
}

// An alarm nobody has taken chimes again every CHIME_MS until someone takes it: one beep is
// easy to miss at a desk left for a moment. Drills never chime.
const CHIME_MS = 10000;
setInterval(() => {
  if (state.beep && Number(document.body.dataset.untaken || 0) > 0) beep();
}, CHIME_MS);

let audio = null;
function beep() {
  document.body.dataset.chimes = String(Number(document.body.dataset.chimes || 0) + 1);
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.2;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  } catch {
    /* no sound on this device */
  }
}

function live(status) {
  const el = $("#live");
  el.dataset.state = status.state;
  el.textContent = w("stream." + status.state);
  if (status.state === "refused" && status.reason) el.title = status.reason;
}

// -- the page ------------------------------------------------------------------------------------

function label() {
  document.title = w("title");
  $("#title").textContent = w("title");
  for (const el of document.querySelectorAll("[data-word]")) el.textContent = words.t(el.dataset.word);
  $("#lang").textContent = w("lang");
  $("#tab-history").textContent = w("tab.history");
  $("#f-q").placeholder = w("filter.search");
  options($("#f-type"), TYPES.map((t) => [t]), (t) => w("type." + t), { selected: state.filters.type });
  options($("#f-state"), OPEN_STATES.map((s) => [s]), (s) => w("status." + s), { selected: state.filters.state });
  options($("#drill-type"), TYPES.map((t) => [t]), (t) => w("type." + t), { all: false, selected: $("#drill-type").value || "help" });
  options($("#f-outcome"), OUTCOMES.map((o) => [o]), (o) => w("outcome." + o), { selected: $("#f-outcome").value });
  options($("#f-sort"), SORTS.map((s) => [s]), (s) => w("sort." + (s === "oldest" ? "age" : s)) + (s === "oldest" ? " ↑" : s === "age" ? " ↓" : ""), { all: false, selected: state.sort });
  const me = state.me;
  if (me) {
    const role = w("role." + (me.role || "system"));
    $("#who").textContent = w("scope", { name: me.name, role }) + (me.role === "grid_manager" ? " · " + w("scope.grid") : "");
  }
}

function tab(which) {
  state.tab = which;
  const history = which === "history";
  $("#tab-open").setAttribute("aria-selected", String(!history));
  $("#tab-history").setAttribute("aria-selected", String(history));
  for (const id of ["#f-outcome-label", "#f-since-label", "#f-until-label", "#f-go"]) $(id).hidden = !history;
  $("#f-state-label").hidden = history;
  $("#f-sort").closest("label").hidden = history;
  document.body.dataset.tab = which;
  if (history) loadHistory().catch((e) => say(e.message, "error"));
  else drawList();
}

function wire() {
  const filters = $("#filters");
  const read = () => {
    state.filters = {
      type: $("#f-type").value,
      state: $("#f-state").value,
      grid: $("#f-grid").value,
      q: $("#f-q").value.trim(),
    };
    state.sort = $("#f-sort").value || "age";
    document.body.dataset.sort = state.sort;
  };
  filters.addEventListener("input", () => {
    read();
    drawList();
  });
  filters.addEventListener("change", () => {
    read();
    drawList();
  });
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    read();
    if (state.tab === "history") loadHistory().catch((err) => say(err.message, "error"));
  });
  $("#more").addEventListener("click", () => loadHistory(true).catch((e) => say(e.message, "error")));
  $("#tab-open").addEventListener("click", () => tab("open"));
  $("#tab-history").addEventListener("click", () => tab("history"));
  $("#back").addEventListener("click", () => {
    document.body.dataset.view = "list";
  });
  $("#lang").addEventListener("click", async () => {
    await words.toggle();
    label();
    state.health?.draw();
    drawList();
    drawDetail();
  });
  document.addEventListener("click", () => (state.beep = true), { once: true });
  $("#drill-open").addEventListener("click", () => {
    const form = $("#drill");
    form.hidden = !form.hidden;
    $("#drill-open").setAttribute("aria-expanded", String(!form.hidden));
  });
  $("#drill").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const json = { household: $("#drill-household").value.trim(), type: $("#drill-type").value, label: $("#drill-label").value.trim() };
      await api("POST", "/api/drills", { json });
      say(w("drill.started"));
      $("#drill").hidden = true;
      await refreshOpen();
    } catch (error) {
      say(error.message, "error");
    }
  });
}

async function main() {
  const params = new URLSearchParams(location.search);
  if (params.get("kiosk") === "1") document.body.classList.add("kiosk");
  await words.load();
  wire();
  label();
  state.me = await api("GET", "/api/me");
  if (state.me.kind !== "staff") {
    fill($(".layout"), h("p", { class: "fatal" }, words.t("app.staff")));
    return;
  }
  if (state.me.role === "police_office") state.sort = "police";
  $("#drill-open").hidden = state.me.role !== "admin"; // the service lets the admin drill any household
  label();
  state.health = showHealth($("#health")); // the system's own health, for staff
  document.body.dataset.sort = state.sort;
  showConsent($("#consent")).catch(() => null); // the notice over the board, which loads meanwhile
  const [patrol] = await Promise.all([api("GET", "/api/patrol").catch(() => []), loadOpen()]);
  state.patrol = patrol;
  drawList();
  drawDetail();
  setInterval(() => tick(), 1000);
  new Stream({
    key: "board",
    onHello: (hello, { resumed }) => {
      if (!resumed) refreshOpen().catch((e) => say(e.message, "error"));
    },
    onEvent: heard,
    onStatus: live,
  }).start();
  document.body.dataset.ready = "1";
}

main().catch((error) => say(error.message, "error"));
