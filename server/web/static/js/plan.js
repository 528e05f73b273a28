// The plan (/plan): the community as buildings → units → floors → rooms, drawn from the
// households' addresses with a CSS grid (no map, works offline once loaded). Each household is
// lit by what it is now — alarm, coming, unreachable, away — live from the stream (/ws), and a
// click opens its card: address, group, residents, responder context, reachability, tests.

import { api } from "./api.js";
import { showConsent } from "./consent.js";
import { $, fill, h } from "./dom.js";
import { Stream } from "./stream.js";
import * as words from "./words.js";

// This page's labels, in one object until they move to server/words/plan.json.
const LABELS = {
  zh: {
    title: "十户联防 · 平面图",
    lang: "English",
    unit: "{unit} 单元",
    floor: "{floor} 层",
    "state.alarm": "求助中",
    "state.coming": "正在赶去",
    "state.unreachable": "无法联系",
    "state.away": "外出",
    "mark.alarm": "求助",
    "mark.coming": "赶去",
    "mark.unreachable": "失联",
    "mark.away": "外出",
    households: "共 {n} 户",
    unreachable: "无法联系（{n} 户）",
    unreachable_none: "每户都至少有一个能联系上的渠道。",
    close: "关闭",
    address: "地址",
    group: "联防组",
    grid: "网格",
    floor_of: "楼层",
    residents: "住户",
    spare_key: "备用钥匙",
    care_note: "行动 / 健康",
    away_until: "外出至",
    context_hidden: "备用钥匙和健康备注：有警情时才显示给巡逻队。",
    reach: "联系渠道",
    "reach.app": "App 在线",
    "reach.app_off": "App 未打开",
    "reach.push": "推送 {n} 台设备",
    "reach.push_failing": "推送失败",
    "reach.no_push": "未开推送",
    "reach.phones": "{n} 个手机号",
    "reach.no_phone": "没有手机号",
    "reach.last_text": "最近短信：{status}",
    tests: "例行测试",
    tests_none: "还没有测试过。",
    test_now: "测试这一户",
    test_started: "测试已开始：不会报警，也不会通知邻居。",
    "channel.app": "App",
    "channel.push": "推送",
    "channel.sms": "短信",
    "result.ok": "正常",
    "result.failed": "失败",
    "result.pending": "等待中",
    "result.none": "没有",
    "live.connecting": "连接中",
    "live.online": "实时",
    "live.reconnecting": "重连中",
    "live.refused": "已断开",
    "why.no app open": "App 未打开",
    "why.no push": "未开推送",
    "why.push failing": "推送失败",
    "why.no phone": "没有手机号",
    "why.last text failed": "最近短信失败",
    scope_grid: "本网格",
    scope_building: "{building} 栋",
  },
  en: {
    title: "TenWatch · Plan",
    lang: "中文",
    unit: "Unit {unit}",
    floor: "Floor {floor}",
    "state.alarm": "Alarm",
    "state.coming": "Coming",
    "state.unreachable": "Can't be reached",
    "state.away": "Away",
    "mark.alarm": "ALARM",
    "mark.coming": "COMING",
    "mark.unreachable": "NO REACH",
    "mark.away": "AWAY",
    households: "{n} households",
    unreachable: "Can't be reached ({n})",
    unreachable_none: "Every household has at least one channel that works.",
    close: "Close",
    address: "Address",
    group: "Group",
    grid: "Grid",
    floor_of: "Floor",
    residents: "Residents",
    spare_key: "Spare key",
    care_note: "Mobility / medical",
    away_until: "Away until",
    context_hidden: "Spare key and care note: shown to the patrol during an alarm.",
    reach: "Channels",
    "reach.app": "App open",
    "reach.app_off": "App not open",
    "reach.push": "Push to {n} devices",
    "reach.push_failing": "Push failing",
    "reach.no_push": "No push",
    "reach.phones": "{n} phones",
    "reach.no_phone": "No phone",
    "reach.last_text": "Last text: {status}",
    tests: "Routine tests",
    tests_none: "Never tested.",
    test_now: "Test this household",
    test_started: "Test started: no alarm, no neighbour is told.",
    "channel.app": "App",
    "channel.push": "Push",
    "channel.sms": "Text",
    "result.ok": "ok",
    "result.failed": "failed",
    "result.pending": "pending",
    "result.none": "none",
    "live.connecting": "connecting",
    "live.online": "live",
    "live.reconnecting": "reconnecting",
    "live.refused": "disconnected",
    "why.no app open": "no app open",
    "why.no push": "no push",
    "why.push failing": "push failing",
    "why.no phone": "no phone",
    "why.last text failed": "last text failed",
    scope_grid: "your grid",
    scope_building: "building {building}",
  },
};
const STATES = ["alarm", "coming", "unreachable", "away"];
const RELOAD_MS = 400;
const REFRESH_MS = 30000;

function say(key, values = {}) {
  const text = LABELS[words.current()][key] ?? LABELS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
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
    grid.append(h("span", { class: "floor-label" }, say("floor", { floor })));
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
  $("#lang").textContent = say("lang");
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
