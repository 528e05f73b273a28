// The roll call page (平安报, staff): start one for a building, a grid or the community, watch
// the tally move live (the board's rollcall.* events; a grid manager's page, which hears none,
// reads it every few seconds), and print the door-knocking list of who has not answered.

import { api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { Stream } from "./stream.js";
import * as words from "./words.js";

// The page's labels, in one object so that they move to server/words/rollcall.json in one step.
const LABELS = {
  zh: {
    "rollcall.title": "十户联防 · 平安报",
    "rollcall.start": "发起平安报",
    "rollcall.scope": "范围",
    "rollcall.scope.building": "一栋楼",
    "rollcall.scope.grid": "一个网格",
    "rollcall.scope.community": "整个社区",
    "rollcall.building": "楼栋（如 B11）",
    "rollcall.grid": "网格编号",
    "rollcall.note": "说明（随短信和电话一起发出）",
    "rollcall.minutes": "几分钟未回应就打电话",
    "rollcall.go": "开始",
    "rollcall.recent": "最近的平安报",
    "rollcall.none": "还没有平安报。",
    "rollcall.open": "进行中",
    "rollcall.closed": "已结束",
    "rollcall.watch": "平安报 #{id} · {scope}",
    "rollcall.ok": "平安",
    "rollcall.help": "需要帮助",
    "rollcall.no_answer": "未回应",
    "rollcall.households": "总户数",
    "rollcall.call_due": "{at} 给未回应的住户打电话",
    "rollcall.called": "{at} 已给未回应的住户打电话",
    "rollcall.knock": "上门敲门名单（未回应）",
    "rollcall.knock_none": "所有住户都已回应。",
    "rollcall.floor": "{floor} 层",
    "rollcall.unit": "{unit} 单元",
    "rollcall.building_name": "{building} 栋",
    "rollcall.needs": "需要帮助的住户",
    "rollcall.alarm": "警情 #{id}",
    "rollcall.print": "打印名单",
    "rollcall.close": "结束平安报",
    "rollcall.started": "平安报已发出：{n} 户。",
    "rollcall.closed_now": "平安报已结束。",
    "rollcall.confirm_close": "结束后不再接受回应，也不再打电话。确定结束？",
    "rollcall.live": "实时",
    "rollcall.offline": "重新连接中…",
    "rollcall.community": "整个社区",
    "rollcall.scope_building": "{building} 栋",
    "rollcall.scope_grid": "网格 {grid}",
    "rollcall.lang": "English",
  },
  en: {
    "rollcall.title": "TenWatch · Roll call",
    "rollcall.start": "Start a roll call",
    "rollcall.scope": "Scope",
    "rollcall.scope.building": "A building",
    "rollcall.scope.grid": "A grid",
    "rollcall.scope.community": "The whole community",
    "rollcall.building": "Building (e.g. B11)",
    "rollcall.grid": "Grid number",
    "rollcall.note": "Note (sent with the text and the call)",
    "rollcall.minutes": "Call after (minutes) without an answer",
    "rollcall.go": "Start",
    "rollcall.recent": "Recent roll calls",
    "rollcall.none": "No roll call yet.",
    "rollcall.open": "open",
    "rollcall.closed": "closed",
    "rollcall.watch": "Roll call #{id} · {scope}",
    "rollcall.ok": "OK",
    "rollcall.help": "Need help",
    "rollcall.no_answer": "No answer",
    "rollcall.households": "households",
    "rollcall.call_due": "Households without an answer are phoned at {at}",
    "rollcall.called": "Households without an answer were phoned at {at}",
    "rollcall.knock": "Door-knocking list (no answer)",
    "rollcall.knock_none": "Every household has answered.",
    "rollcall.floor": "Floor {floor}",
    "rollcall.unit": "Unit {unit}",
    "rollcall.building_name": "Building {building}",
    "rollcall.needs": "Households that need help",
    "rollcall.alarm": "Alarm #{id}",
    "rollcall.print": "Print the list",
    "rollcall.close": "Close the roll call",
    "rollcall.started": "Roll call sent to {n} households.",
    "rollcall.closed_now": "The roll call is closed.",
    "rollcall.confirm_close": "Once closed it takes no answers and phones nobody. Close it?",
    "rollcall.live": "live",
    "rollcall.offline": "reconnecting…",
    "rollcall.community": "whole community",
    "rollcall.scope_building": "building {building}",
    "rollcall.scope_grid": "grid {grid}",
    "rollcall.lang": "中文",
  },
};
Object.assign(words.WORDS.zh, LABELS.zh);
Object.assign(words.WORDS.en, LABELS.en);
const { t } = words;

const POLL_MS = 5000;
const state = { me: null, watching: null, detail: null, list: [], timer: null };

function say(text, kind = "ok") {
  const status = $("#status");
  status.textContent = text;
  status.className = "status " + kind;
}

function scopeText(scope) {
  const [kind, value] = scope.split(":");
  if (kind === "building") return t("rollcall.scope_building", { building: value });
  if (kind === "grid") return t("rollcall.scope_grid", { grid: value });
  return t("rollcall.community");
}

function time(iso) {
  const lang = words.current() === "en" ? "en-GB" : "zh-CN";
  return iso ? new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }) : "";
}

function labels() {
  document.title = t("rollcall.title");
  $("#title").textContent = t("rollcall.title");
  $("#lang").textContent = t("rollcall.lang");
  $("#start-title").textContent = t("rollcall.start");
  $("#scope-label").textContent = t("rollcall.scope");
  for (const option of $("#scope-kind").options) option.textContent = t("rollcall.scope." + option.value);
  $("#note-label").textContent = t("rollcall.note");
  $("#minutes-label").textContent = t("rollcall.minutes");
  $("#start-button").textContent = t("rollcall.go");
  $("#recent-title").textContent = t("rollcall.recent");
  $("#tally-ok-label").textContent = t("rollcall.ok");
  $("#tally-help-label").textContent = t("rollcall.help");
  $("#tally-none-label").textContent = t("rollcall.no_answer");
  $("#tally-all-label").textContent = t("rollcall.households");
  $("#knock-title").textContent = t("rollcall.knock");
  $("#print").textContent = t("rollcall.print");
  $("#close").textContent = t("rollcall.close");
  scopeField();
}

function scopeField() {
  const kind = $("#scope-kind").value;
  $("#scope-value-label").hidden = kind === "community";
  $("#scope-value-name").textContent = t(kind === "grid" ? "rollcall.grid" : "rollcall.building");
  $("#scope-value").placeholder = kind === "grid" ? "1" : "B11";
}

function renderList() {
  const items = state.list.map((r) =>
    h(
      "button",
      {
        type: "button",
        class: "pick" + (r.id === state.watching ? " current" : ""),
        "data-id": String(r.id),
        onclick: () => watch(r.id),
      },
      `#${r.id} · ${scopeText(r.scope)} · ${t(r.status === "open" ? "rollcall.open" : "rollcall.closed")} · `,
      `${t("rollcall.ok")} ${r.tally.ok} / ${t("rollcall.help")} ${r.tally.help} / ${t("rollcall.no_answer")} ${r.tally.no_answer}`,
    ),
  );
  fill($("#recent-list"), ...(items.length ? items : [h("p", { class: "muted" }, t("rollcall.none"))]));
}

function renderDetail() {
  const d = state.detail;
  $("#watch").hidden = !d;
  if (!d) return;
  $("#watch-title").textContent = t("rollcall.watch", { id: d.id, scope: scopeText(d.scope) });
  $("#watch-note").textContent = d.note;
  $("#tally-ok").textContent = String(d.tally.ok);
  $("#tally-help").textContent = String(d.tally.help);
  $("#tally-none").textContent = String(d.tally.no_answer);
  $("#tally-all").textContent = String(d.tally.households);
  $("#close").hidden = d.status !== "open";
  $("#call-due").textContent = d.called_at
    ? t("rollcall.called", { at: time(d.called_at) })
    : d.status === "open"
      ? t("rollcall.call_due", { at: time(d.call_due_at) })
      : "";
  const needs = d.households.filter((x) => x.answer === "help");
  fill(
    $("#helpers"),
    ...(needs.length
      ? [
          h("h3", {}, t("rollcall.needs")),
          h(
            "ul",
            { class: "needs" },
            needs.map((x) =>
              h("li", {}, x.household, x.alert_id ? h("span", { class: "alarm" }, " · " + t("rollcall.alarm", { id: x.alert_id })) : ""),
            ),
          ),
        ]
      : []),
  );
  const buildings = d.knock.map((b) =>
    h(
      "div",
      { class: "building" },
      h("h4", {}, t("rollcall.building_name", { building: b.building })),
      b.units.map((u) =>
        h(
          "div",
          { class: "unit" },
          h("h5", {}, t("rollcall.unit", { unit: u.unit })),
          h(
            "table",
            {},
            h(
              "tbody",
              {},
              u.floors.map((f) =>
                h(
                  "tr",
                  {},
                  h("th", { scope: "row" }, t("rollcall.floor", { floor: f.floor })),
                  h("td", {}, f.households.map((a) => h("span", { class: "door" }, a))),
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  fill($("#knock"), ...(buildings.length ? buildings : [h("p", { class: "muted" }, t("rollcall.knock_none"))]));
}

async function refresh() {
  try {
    state.list = await api("GET", "/api/rollcalls");
    if (state.watching === null && state.list.length && state.list[0].status === "open") {
      state.watching = state.list[0].id;
    }
    state.detail = state.watching === null ? null : await api("GET", `/api/rollcalls/${state.watching}`);
    renderList();
    renderDetail();
  } catch (error) {
    say(error.message, "error");
  }
}

async function watch(id) {
  state.watching = id;
  await refresh();
}

async function startRollCall(event) {
  event.preventDefault();
  const kind = $("#scope-kind").value;
  const value = $("#scope-value").value.trim();
  const scope = kind === "community" ? "community" : `${kind}:${value}`;
  const minutes = Number($("#minutes").value) || 10;
  try {
    const started = await api("POST", "/api/rollcalls", {
      json: { scope, note: $("#note").value.trim(), call_after_seconds: Math.round(minutes * 60) },
    });
    say(t("rollcall.started", { n: started.tally.households }));
    await watch(started.id);
  } catch (error) {
    say(error.message, "error");
  }
}

async function closeRollCall() {
  if (state.watching === null || !window.confirm(t("rollcall.confirm_close"))) return;
  try {
    await api("POST", `/api/rollcalls/${state.watching}/close`);
    say(t("rollcall.closed_now"));
    await refresh();
  } catch (error) {
    say(error.message, "error");
  }
}

function live(status) {
  const badge = $("#live");
  badge.dataset.state = status.state;
  badge.textContent = status.state === "online" ? t("rollcall.live") : t("rollcall.offline");
}

function onEvent(event) {
  if (!String(event.type).startsWith("rollcall.")) return;
  refresh();
}

async function main() {
  await words.load();
  labels();
  try {
    state.me = await api("GET", "/api/me");
    $("#who").textContent = state.me.name;
  } catch (error) {
    say(error.message, "error");
    return;
  }
  $("#scope-kind").addEventListener("change", scopeField);
  $("#start-form").addEventListener("submit", startRollCall);
  $("#close").addEventListener("click", closeRollCall);
  $("#print").addEventListener("click", () => window.print());
  $("#lang").addEventListener("click", async () => {
    await words.toggle();
    labels();
    renderList();
    renderDetail();
  });
  await refresh();
  new Stream({ key: "rollcall", onEvent, onStatus: live, onHello: () => refresh() }).start();
  state.timer = setInterval(refresh, POLL_MS);
}

main();
