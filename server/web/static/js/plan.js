// The plan (/plan): the community as buildings → units → floors → rooms, drawn from the
// households' addresses with a CSS grid (no map, works offline once loaded). Each household is
// lit by what it is now — alarm, coming, unreachable, away — live from the stream (/ws), and a
// click opens its card: address, group, residents, responder context, reachability, tests.

import { api } from "./api.js";
import { showConsent } from "./consent.js";
import { $, fill, h } from "./dom.js";
import { Stream } from "./stream.js";
import * as words from "./words.js";

// This page's labels are server/words/plan.json ("plan.*"), through words.js.
const STATES = ["alarm", "coming", "unreachable", "away"];
const RELOAD_MS = 400;
const REFRESH_MS = 30000;

/** A label of the plan ("plan." + key) in the person's language. */
function say(key, values = {}) {
  return words.t("plan." + key.replace(/ /g, "_"), values);
}

const state = { me: null, plan: null, byAddress: new Map(), open: null, card: null, timer: null, stream: null };

function status(text, kind = "ok") {
  const el = $("#status");
  el.textContent = text;
  el.className = "status " + (text ? kind : "");
}

// -- the plan --------------------------------------------------------------------------------

/** Households grouped building → unit → floor, in the order the service gives them. */
function arrange(households) {
  const buildings = new Map();
  for (const home of households) {
    if (!buildings.has(home.building)) buildings.set(home.building, new Map());
    const units = buildings.get(home.building);
    if (!units.has(home.unit)) units.set(home.unit, new Map());
    const floors = units.get(home.unit);
    if (!floors.has(home.floor)) floors.set(home.floor, []);
    floors.get(home.floor).push(home);
  }
  return buildings;
}

function label(home) {
  const states = home.states.map((s) => say("state." + s)).join(", ");
  return states ? `${home.address} · ${states}` : home.address;
}

function room(home) {
  const top = STATES.find((s) => home.states.includes(s));
  return h(
    "button",
    {
      type: "button",
      class: "room" + home.states.map((s) => " state-" + s).join(""),
      dataset: { address: home.address, id: String(home.id), states: home.states.join(" ") },
      "aria-label": label(home),
      "aria-pressed": String(state.open === home.id),
      onclick: () => openCard(home.id),
    },
    String(home.room),
    top ? h("span", { class: "marks" }, home.states.map((s) => say("mark." + s)).join(" · ")) : null,
  );
}

function unitGrid(unit, floors) {
  const doors = Math.max(...[...floors.values()].map((rooms) => Math.max(...rooms.map((r) => r.room % 100))));
  const grid = h("div", { class: "floors" });
  grid.style.setProperty("--doors", String(doors));
  const order = [...floors.keys()].sort((a, b) => b - a); // the top floor first, as a building stands
  for (const floor of order) {
    grid.append(h("span", { class: "floor-label" }, say("floor_short", { floor })));
    const byDoor = new Map(floors.get(floor).map((r) => [r.room % 100, r]));
    for (let door = 1; door <= doors; door += 1) {
      const home = byDoor.get(door);
      grid.append(home ? room(home) : h("span", { class: "room empty", "aria-hidden": "true" }));
    }
  }
  return h("div", { class: "unit", dataset: { unit: String(unit) } }, h("h3", {}, say("unit", { unit })), grid);
}

function render() {
  const plan = state.plan;
  if (!plan) return;
  state.byAddress = new Map(plan.households.map((home) => [home.address, home]));
  const buildings = arrange(plan.households);
  fill(
    $("#plan"),
    [...buildings].map(([building, units]) =>
      h(
        "section",
        { class: "building", dataset: { building }, "aria-label": building },
        h("h2", {}, building),
        h("div", { class: "units" }, [...units].map(([unit, floors]) => unitGrid(unit, floors))),
      ),
    ),
  );
  renderLegend();
  renderUnreachable();
  if (state.card && state.open !== null) renderCard(state.card); // its states, as now lit
}

function renderLegend() {
  const plan = state.plan;
  const counts = {};
  for (const s of STATES) counts[s] = plan.households.filter((home) => home.states.includes(s)).length;
  const scope = plan.building ? say("scope_building", { building: plan.building }) : plan.grid_id ? say("scope_grid") : "";
  fill(
    $("#legend"),
    h("span", { class: "key", id: "count" }, [scope, say("households", { n: plan.households.length })].filter(Boolean).join(" · ")),
    STATES.map((s) =>
      h(
        "span",
        { class: "key", dataset: { state: s } },
        h("span", { class: "swatch state-" + s, "aria-hidden": "true" }),
        `${say("state." + s)} ${counts[s]}`,
      ),
    ),
  );
}

function renderUnreachable() {
  const list = state.plan.unreachable;
  fill(
    $("#unreachable"),
    h("h2", {}, say("unreachable", { n: list.length })),
    list.length
      ? h(
          "ul",
          { id: "unreachable-list" },
          list.map((r) =>
            h(
              "li",
              {},
              h(
                "button",
                { type: "button", dataset: { address: r.address }, onclick: () => openCard(r.household_id) },
                r.address,
                h("span", { class: "why" }, r.why_not.map((w) => say("why." + w)).join(" · ")),
              ),
            ),
          ),
        )
      : h("p", {}, say("unreachable_none")),
    state.plan.buttons?.length
      ? [
          h("h2", {}, say("buttons", { n: state.plan.buttons.length })),
          h(
            "ul",
            { id: "button-list" },
            state.plan.buttons.map((b) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", dataset: { address: b.address || "" }, onclick: () => b.household_id && openCard(b.household_id) },
                  `${b.address || ""} · ${b.label || b.name}`,
                  h("span", { class: "why" }, say("button." + b.state, { battery: b.battery ?? "?" })),
                ),
              ),
            ),
          ),
        ]
      : null,
  );
}

async function load() {
  try {
    state.plan = await api("GET", "/api/community/plan");
    render();
  } catch (error) {
    status(error.message, "error");
  }
}

function reloadSoon() {
  clearTimeout(state.timer);
  state.timer = setTimeout(load, RELOAD_MS);
}

// -- live: light at once from the event, then read the plan again ------------------------------

function light(address, s) {
  const home = state.byAddress.get(address);
  if (!home || home.states.includes(s)) return;
  home.states = [s, ...home.states];
  render();
}

function onEvent(event) {
  const data = event.data || {};
  if (event.type === "alert.raised" || event.type === "alert.pressed") light(data.household, "alarm");
  else if (event.type === "alert.response" && data.answer === "coming") light(data.responder, "coming");
  reloadSoon();
}

function onStatus({ state: s }) {
  const live = $("#live");
  live.dataset.state = s;
  live.textContent = say("live." + s);
}

// -- the card --------------------------------------------------------------------------------

function result(channel, value) {
  return h("span", { class: "badge " + value, dataset: { channel, result: value } }, `${say("channel." + channel)} ${say("result." + value)}`);
}

function reachLines(reach) {
  if (!reach) return [];
  const lines = [
    h("li", { class: reach.connected ? "ok" : "none" }, say(reach.connected ? "reach.app" : "reach.app_off")),
    h(
      "li",
      { class: reach.push_devices > reach.push_failing ? "ok" : reach.push_devices ? "failed" : "none" },
      reach.push_devices === 0
        ? say("reach.no_push")
        : reach.push_devices > reach.push_failing
          ? say("reach.push", { n: reach.push_devices })
          : say("reach.push_failing"),
    ),
    h("li", { class: reach.phones ? "ok" : "none" }, reach.phones ? say("reach.phones", { n: reach.phones }) : say("reach.no_phone")),
  ];
  if (reach.last_text) {
    lines.push(h("li", { class: reach.last_text.failed ? "failed" : "ok" }, say("reach.last_text", { status: reach.last_text.status })));
  }
  return lines;
}

function field(name, value, attrs = {}) {
  if (value === null || value === undefined || value === "") return [];
  return [h("dt", {}, say(name)), h("dd", attrs, String(value))];
}

/** Open a household's card: one read (a look at its responder context is in the audit log). */
async function openCard(id) {
  let found;
  try {
    found = await api("GET", `/api/community/households/${id}`);
  } catch (error) {
    status(error.message, "error");
    return;
  }
  state.open = id;
  state.card = found;
  for (const el of document.querySelectorAll(".room[aria-pressed]")) {
    el.setAttribute("aria-pressed", String(el.dataset.id === String(id)));
  }
  renderCard(found);
}

function renderCard(found) {
  const card = $("#card");
  const id = found.household.id;
  const home = state.byAddress.get(found.household.address) || found.household;
  const admin = state.me && state.me.kind === "staff" && state.me.role === "admin";
  const latest = found.tests[0];
  fill(
    card,
    h("button", { type: "button", class: "close", onclick: closeCard }, say("close")),
    h("h2", { id: "card-address" }, home.address),
    h("p", { id: "card-states" }, home.states.map((s) => h("span", { class: "badge", dataset: { state: s } }, say("state." + s)))),
    h(
      "dl",
      {},
      field("group", home.group, { id: "card-group" }),
      field("grid", found.grid),
      field("floor_of", say("floor", { floor: found.floor })),
      field("away_until", found.away_until),
      field("residents", found.residents.map((r) => (r.phone ? `${r.name} ${r.phone}` : r.name)).join("、"), { id: "card-residents" }),
    ),
    found.context_shown
      ? h("dl", { class: "context", id: "card-context" }, field("spare_key", found.spare_key_holder), field("care_note", found.care_note))
      : found.context_withheld
        ? h("p", { class: "none", id: "card-withheld" }, say("context_hidden"))
        : null,
    h("h3", {}, say("reach")),
    h("ul", { id: "card-reach" }, reachLines(found.reach)),
    h("h3", {}, say("tests")),
    testLine(latest),
    admin
      ? h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "primary", id: "test-now", onclick: () => testNow(id) }, say("test_now")),
        )
      : null,
  );
  card.hidden = false;
}

function testLine(latest) {
  return latest
    ? h("p", { id: "card-test" }, ["app", "push", "sms"].map((c) => result(c, latest.summary[c])))
    : h("p", { id: "card-test" }, say("tests_none"));
}

function closeCard() {
  state.open = null;
  state.card = null;
  $("#card").hidden = true;
  for (const el of document.querySelectorAll('.room[aria-pressed="true"]')) el.setAttribute("aria-pressed", "false");
}

/** Start a test of the household; its results come in over the next seconds. */
async function testNow(id) {
  try {
    const started = await api("POST", `/api/households/${id}/test`);
    status(say("test_started"));
    showTest(id, started);
    for (const wait of [2000, 6000, 16000]) {
      setTimeout(async () => {
        if (state.open !== id) return;
        const [latest] = await api("GET", `/api/households/${id}/tests`);
        showTest(id, latest);
      }, wait);
    }
  } catch (error) {
    status(error.message, "error");
  }
}

function showTest(id, latest) {
  if (state.open !== id || !state.card) return;
  state.card.tests = [latest, ...state.card.tests.filter((t) => t.id !== latest.id)];
  $("#card-test").replaceWith(testLine(latest));
}

// -- the page --------------------------------------------------------------------------------

function frame() {
  document.title = say("title");
  $("#title").textContent = say("title");
  $("#lang").textContent = words.t("lang.switch");
  $("#who").textContent = state.me ? state.me.name : "";
  onStatus({ state: state.stream ? state.stream.state : "connecting" });
}

async function start() {
  await words.load();
  $("#lang").addEventListener("click", async () => {
    await words.toggle();
    frame();
    render();
    if (state.card && state.open !== null) renderCard(state.card);
  });
  document.addEventListener("keydown", (e) => e.key === "Escape" && closeCard());
  try {
    state.me = await api("GET", "/api/me");
  } catch (error) {
    status(error.message, "error");
    return;
  }
  frame();
  showConsent($("#consent")).catch((error) => status(error.message, "error"));
  await load();
  state.stream = new Stream({ key: "plan", onHello: reloadSoon, onEvent, onStatus });
  state.stream.start();
  setInterval(load, REFRESH_MS); // reachability moves without events (an app opened, a receipt)
}

start();
