// The recipient table of one alarm (docs/protocol.md, "Recipients and delivery"): everyone it
// alerted, one row per household and staff member, each text, call and push as a chip whose
// state is a word (queued → sent → delivered / failed, a failure in red with the provider's
// code and reason), then seen and answered. It reads GET /api/alerts/{id}/recipients once and
// then folds the board's live events into it (alert.delivery, alert.seen, alert.response,
// alert.acknowledged), so it stays exact without reading again.
//
//   import { renderRecipients, deliveryLines } from "/static/js/recipients.js";
//   const table = await renderRecipients(document.getElementById("recipients"), alertId);
//   stream: onEvent(event) { table.apply(event); for (const line of deliveryLines(event)) log(line); }
//
// or pass {subscribe: (listener) => unsubscribe} and the table listens by itself. The event log
// shows an alert.delivery only through deliveryLines: a failure, and the step that settles the
// last text ("全部 9 条已送达"); every other receipt only moves the table.

import { api } from "./api.js";
import { h, fill } from "./dom.js";
import { current, t } from "./words.js";

const RANK = { none: -1, withdrawn: -1, failed: 0, queued: 1, sent: 2, delivered: 3, seen: 4, answered: 5 };

/** The furthest a row got: answered, seen, else the best of its deliveries. */
export function rowState(row) {
  if (row.answer) return "answered";
  if (row.seen && Object.keys(row.seen).length) return "seen";
  let best = "none";
  for (const d of row.deliveries) {
    if (d.state !== "withdrawn" && RANK[d.state] > RANK[best]) best = d.state;
  }
  return best;
}

function clock(at) {
  if (!at) return "";
  const when = new Date(at);
  return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString(current() === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

function latest(row) {
  const times = [row.answered_at, ...Object.values(row.seen || {})];
  for (const d of row.deliveries) times.push(d.settled_at, d.sent_at, d.queued_at);
  return times.filter(Boolean).sort().pop() || null;
}

function reasonOf(d) {
  if (d.state !== "failed") return "";
  const reason = d.reason ? t("recipients.reason." + d.reason) : "";
  return [d.error_code, reason].filter(Boolean).join(" ");
}

function chip(d) {
  const failed = d.state === "failed";
  const words = [t("recipients.channel." + d.channel), t("recipients.state." + d.state)];
  const reason = reasonOf(d);
  return h(
    "span",
    { class: "tw-chip" + (failed ? " tw-failed" : ""), dataset: { job: d.job_id, state: d.state, channel: d.channel }, title: d.detail || d.to || "" },
    words.join(" "),
    reason ? h("span", { class: "tw-reason" }, " · " + reason) : null,
  );
}

function seenChips(row) {
  return Object.keys(row.seen || {}).map((via) =>
    h("span", { class: "tw-chip tw-seen", dataset: { seen: via } }, t("recipients.seen." + via)),
  );
}

function whoCell(row) {
  const title = row.household || row.name || row.key;
  const role = t("recipients.role." + row.role);
  const sub = row.household && row.name ? `${row.name} · ${role}` : role;
  return h("td", { class: "tw-who" }, h("strong", {}, title), h("span", { class: "tw-role" }, sub));
}

function stateCell(row) {
  const state = rowState(row);
  const answer = row.answer ? " · " + t("recipients.answer." + row.answer) : "";
  return h("td", { class: "tw-state", dataset: { state } }, t("recipients.state." + state) + answer);
}

function summary(rows) {
  const count = (f) => rows.filter(f).length;
  const deliveries = rows.flatMap((r) => r.deliveries);
  return t("recipients.summary", {
    rows: rows.length,
    delivered: deliveries.filter((d) => d.state === "delivered").length,
    failed: deliveries.filter((d) => d.state === "failed").length,
    seen: count((r) => r.seen && Object.keys(r.seen).length),
    answered: count((r) => r.answer),
  });
}

function stylesheet() {
  if (document.querySelector('link[data-tw="recipients"]')) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/js/recipients.css", dataset: { tw: "recipients" } }));
}

// A delivery only moves forward (the service's receipts do): an event read before the table
// was, and folded after it, must not take a cell back.
const STEP = { queued: 1, sent: 2, delivered: 3, failed: 3, withdrawn: 3 };

/** Fold one live event of the board into rows (in place); true if it changed them. */
export function fold(rows, event, alertId) {
  if (!event || event.alert_id !== alertId) return false;
  const data = event.data || {};
  if (event.type === "alert.delivery" && data.job_id) {
    let row = rows.find((r) => r.key === data.recipient_key);
    if (!row) {
      const household = data.recipient_kind === "household" ? data.recipient : null;
      row = { key: data.recipient_key, kind: data.recipient_kind, household, name: data.recipient_name, role: data.role, deliveries: [], seen: {}, answer: null, answered_at: null };
      rows.push(row);
    }
    let cell = row.deliveries.find((d) => d.job_id === data.job_id);
    if (!cell) {
      if (row.deliveries.some((d) => d.cell === data.cell)) return false; // a later job of that phone
      cell = { job_id: data.job_id, cell: data.cell, channel: data.channel, to: data.to, queued_at: event.at };
      row.deliveries.push(cell);
    }
    if (STEP[data.state] < (STEP[cell.state] ?? 0)) return false; // older than what was read
    Object.assign(cell, {
      state: data.state,
      status: data.delivery,
      error_code: data.error_code,
      reason: data.reason,
      sent_at: data.sent_at ?? cell.sent_at ?? null,
      settled_at: data.settled_at ?? cell.settled_at ?? null,
    });
    return true;
  }
  if (event.type === "alert.seen") {
    const row = rows.find((r) => r.key === data.recipient_key);
    if (!row || (row.seen && row.seen[data.via])) return false;
    row.seen = { ...(row.seen || {}), [data.via]: event.at };
    return true;
  }
  if (event.type === "alert.response") {
    const row = rows.find((r) => r.kind === "household" && r.household === data.responder);
    if (!row || (row.answered_at && Date.parse(event.at) < Date.parse(row.answered_at))) return false;
    Object.assign(row, { answer: data.answer, answer_channel: event.channel, answered_at: event.at });
    return true;
  }
  if (event.type === "alert.acknowledged") {
    const row = rows.find((r) => r.kind === "staff" && r.name === data.taken_by);
    if (!row) return false;
    Object.assign(row, { answer: "taken", answered_at: event.at });
    return true;
  }
  return false;
}

/**
 * Draw the recipient table of alarm alertId into container and keep it live. Options:
 *  subscribe(listener) → unsubscribe: hands the table the board's stream events (else call apply)
 * Resolves to {apply(event), refresh(), rows(), destroy()}.
 */
export async function renderRecipients(container, alertId, { subscribe } = {}) {
  stylesheet();
  let rows = [];
  const heading = h("h2", {}, t("recipients.title"));
  const note = h("p", { class: "tw-summary" }, t("recipients.loading"));
  const body = h("tbody");
  const table = h(
    "table",
    { class: "tw-recipients" },
    h("thead", {}, h("tr", {}, ...["who", "channels", "state", "at"].map((c) => h("th", { scope: "col" }, t("recipients.col." + c))))),
    body,
  );
  fill(container, heading, note, table);
  container.classList.add("tw-recipients-box");

  function draw() {
    note.textContent = rows.length ? summary(rows) : t("recipients.empty");
    fill(
      body,
      rows.map((row) =>
        h(
          "tr",
          { dataset: { key: row.key, state: rowState(row) }, class: row.deliveries.length && row.deliveries.every((d) => d.state === "failed") ? "tw-failed" : "" },
          whoCell(row),
          h("td", { class: "tw-channels" }, row.deliveries.map(chip), seenChips(row)),
          stateCell(row),
          h("td", { class: "tw-at" }, clock(latest(row))),
        ),
      ),
    );
  }

  async function refresh() {
    try {
      rows = (await api("GET", `/api/alerts/${alertId}/recipients`)).recipients;
      draw();
    } catch (error) {
      note.textContent = t("recipients.error", { reason: error.message });
      note.classList.add("tw-failed");
    }
  }

  const pending = [];
  let loaded = false;
  const apply = (event) => {
    if (!loaded) return void pending.push(event); // folded once the table is read
    if (fold(rows, event, alertId)) draw();
  };
  const unsubscribe = subscribe ? subscribe(apply) : null;
  await refresh();
  loaded = true;
  for (const event of pending.splice(0)) fold(rows, event, alertId);
  draw();
  return {
    apply,
    refresh,
    rows: () => rows,
    destroy() {
      if (typeof unsubscribe === "function") unsubscribe();
      container.replaceChildren();
    },
  };
}

/** The event log's lines for one event: an alert.delivery only when it matters (a failure, the
 *  step that settles the alarm's last text); [] for every other receipt. */
export function deliveryLines(event) {
  if (!event || event.type !== "alert.delivery" || !event.data?.log) return [];
  const data = event.data;
  const lines = [];
  if (data.state === "failed") {
    lines.push(
      t("recipients.log.failed", {
        channel: t("recipients.channel." + data.channel),
        who: data.recipient,
        code: data.error_code || "",
        reason: data.reason ? t("recipients.reason." + data.reason) : "",
      }).replace(/\s+$/, ""),
    );
  }
  if (data.settled && data.tally) {
    const tally = data.tally;
    lines.push(t(tally.failed ? "recipients.log.some" : "recipients.log.all", tally));
  }
  return lines;
}
