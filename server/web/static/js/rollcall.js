// The roll call page (平安报, staff): start one for a building, a grid or the community, watch
// the tally move live (the board's rollcall.* events; a grid manager's page, which hears none,
// reads it every few seconds), and print the door-knocking list of who has not answered.
// Its words are the catalogue's rollcall.* (server/words/rollcall.json).

import { api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { Stream } from "./stream.js";
import * as words from "./words.js";

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
  $("#lang").textContent = t("lang.switch");
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
