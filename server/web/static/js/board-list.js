// The board's list: which alarms show (filters), in what order (sorts), confirmed pairs kept
// together (the confirming alarm right under the first), and one row per alarm.

import { h } from "./dom.js";
import { ago, countdown, w } from "./board-words.js";

export const TYPES = ["help", "medical", "fire", "intrusion", "dispute", "other"];
export const OPEN_STATES = ["open", "acknowledged", "on_scene"];
export const OUTCOMES = ["handled", "false_alarm", "police", "medical", "other"];
export const SORTS = ["age", "oldest", "type", "address", "due", "police"];

const time = (a) => new Date(a.created_at).getTime();
const due = (a) => (a.next_escalation_at ? new Date(a.next_escalation_at).getTime() : Infinity);
const byNewest = (a, b) => time(b) - time(a) || b.id - a.id;

const ORDERS = {
  age: byNewest,
  oldest: (a, b) => -byNewest(a, b),
  type: (a, b) => TYPES.indexOf(a.type) - TYPES.indexOf(b.type) || byNewest(a, b),
  address: (a, b) =>
    String(a.household || a.caller || "").localeCompare(String(b.household || b.caller || ""), "en", {
      numeric: true,
    }) || byNewest(a, b),
  due: (a, b) => due(a) - due(b) || byNewest(a, b),
  police: (a, b) => Number(b.police) - Number(a.police) || byNewest(a, b),
};

/** Whether an alarm passes the filters {type, state, grid, q}. */
export function passes(alert, { type, state, grid, q }) {
  if (type && alert.type !== type) return false;
  if (state && alert.status !== state) return false;
  if (grid && String(alert.grid_id ?? "") !== grid) return false;
  if (q) {
    const hay = [alert.household, alert.raised_by, alert.group, alert.caller, alert.grid]
      .filter(Boolean)
      .join(" ")
      .toLowerCase();
    if (!hay.includes(q.toLowerCase())) return false;
  }
  return true;
}

/** The alarms in the order chosen, each confirming alarm right under the one it confirms
 * (when both show): [{alert, child}]. */
export function arrange(alerts, sort) {
  const order = ORDERS[sort] || ORDERS.age;
  const shown = new Set(alerts.map((a) => a.id));
  const children = new Map();
  const top = [];
  for (const a of alerts) {
    if (a.linked_alert_id && shown.has(a.linked_alert_id)) {
      if (!children.has(a.linked_alert_id)) children.set(a.linked_alert_id, []);
      children.get(a.linked_alert_id).push(a);
    } else top.push(a);
  }
  const out = [];
  for (const a of top.sort(order)) {
    out.push({ alert: a, child: false });
    for (const c of (children.get(a.id) || []).sort((x, y) => x.id - y.id)) out.push({ alert: c, child: true });
  }
  return out;
}

/** The badges an alarm carries: confirmed, duress, drill, police. */
export function badges(alert, child = false) {
  const out = [];
  if (child) out.push(h("span", { class: "badge pair" }, w("badge.pair")));
  else if (alert.confirmed) out.push(h("span", { class: "badge confirmed" }, w("badge.confirmed")));
  if (alert.duress) out.push(h("span", { class: "badge duress" }, w("badge.duress")));
  if (alert.drill) out.push(h("span", { class: "badge drill" }, w("badge.drill")));
  if (alert.police) out.push(h("span", { class: "badge police" }, w("badge.police")));
  return out;
}

/** The header of the list's columns (the wide screen's). */
export function header() {
  return ["type", "address", "age", "coming", "taken", "due", "badges"].map((c) =>
    h("span", { class: "c-" + c }, c === "badges" ? "" : w("col." + c)),
  );
}

/** One row of the list: a button that selects the alarm. */
export function row(alert, { child, selected, history, onPick }) {
  const address = alert.household || alert.caller || "?";
  return h(
    "li",
    {
      class: "item" + (child ? " child" : "") + (selected ? " selected" : ""),
      dataset: { id: String(alert.id), status: alert.status, type: alert.type },
    },
    h(
      "button",
      {
        type: "button",
        class: "row",
        "aria-current": selected ? "true" : undefined,
        onclick: () => onPick(alert.id),
      },
      h("span", { class: "c-type t-" + alert.type }, w("type." + alert.type)),
      h(
        "span",
        { class: "c-address" },
        h("b", {}, address),
        alert.raised_by ? h("small", {}, alert.raised_by) : null,
      ),
      h("span", { class: "c-age", dataset: { at: alert.created_at } }, ago(alert.created_at)),
      h("span", { class: "c-coming", title: w("col.coming") }, w("coming.n", { n: alert.coming })),
      h(
        "span",
        { class: "c-taken" + (alert.taken_by ? "" : " untaken") },
        history ? w("outcome." + (alert.outcome || "other")) : alert.taken_by || w("status." + alert.status),
      ),
      h(
        "span",
        {
          class: "c-due",
          dataset: history || !alert.next_escalation_at ? {} : { due: alert.next_escalation_at },
        },
        history ? w("status." + alert.status) : countdown(alert.next_escalation_at),
      ),
      h("span", { class: "c-badges" }, badges(alert, child)),
    ),
  );
}

/** Move every live age and countdown on the page on by a tick. */
export function tick(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("[data-at]")) el.textContent = ago(el.dataset.at, now);
  for (const el of root.querySelectorAll("[data-due]")) {
    el.textContent = countdown(el.dataset.due, now);
    el.classList.toggle("soon", new Date(el.dataset.due).getTime() - now < 30000);
  }
}
