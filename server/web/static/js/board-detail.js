// The board's detail pane: one alarm's facts, who to call back, what the responder should know,
// the actions (take, on scene, note, reassign, escalate, resolve) and its timeline with people
// named by name and role and the notes' text.

import { h } from "./dom.js";
import { badges, OUTCOMES } from "./board-list.js";
import { ago, clock, countdown, w } from "./board-words.js";

const OPEN = new Set(["open", "acknowledged", "on_scene"]);

function fact(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function tel(number, label) {
  return h("a", { class: "tel", href: "tel:" + number }, h("small", {}, label), h("b", {}, number));
}

/** Who took a step, as a person reads it: "刘强 · 巡逻队长", "王芳 · 住户 B11-1-301". */
export function who(event) {
  if (event.actor_name) {
    const role = w("role." + (event.actor_role || "system"));
    return [event.actor_name, role, event.actor_household].filter(Boolean).join(" · ");
  }
  if (event.actor_role === "system" || event.actor === "system") return w("role.system");
  return event.actor || "";
}

/** What a step says beyond its type. */
function said(event) {
  const d = event.data || {};
  switch (event.type) {
    case "alert.note":
      return d.note || "";
    case "alert.response":
      return [d.responder, d.name, w("answer." + d.answer)].filter(Boolean).join(" · ");
    case "alert.acknowledged":
      return d.reassigned ? w("ev.reassigned", { name: d.taken_by }) : w("ev.taken_by", { name: d.taken_by });
    case "alert.escalated":
      return w("level." + (d.level || "patrol"));
    case "alert.resolved":
      return w("outcome." + (d.outcome || "other"));
    case "alert.caller":
      return d.caller || "";
    case "alert.delivery":
      return [d.channel, d.status].filter(Boolean).join(" · ");
    default:
      return "";
  }
}

/** A label, or the fallback when the catalogue has none (an event type it does not know). */
const known = (label, fallback) => (label.startsWith("board.") ? fallback : label);

function timeline(events) {
  return h(
    "ol",
    { class: "timeline", id: "timeline" },
    events.map((e) =>
      h(
        "li",
        { class: "ev", dataset: { type: e.type, id: String(e.id) } },
        h("time", { datetime: e.at }, clock(e.at)),
        h("span", { class: "ev-what" }, known(w("ev." + e.type), e.type)),
        h("span", { class: "ev-who" }, who(e)),
        said(e) ? h("span", { class: e.type === "alert.note" ? "ev-note" : "ev-said" }, said(e)) : null,
      ),
    ),
  );
}

function actions(alert, { patrol, act }) {
  const open = OPEN.has(alert.status);
  const out = [];
  if (open) {
    const row = h("div", { class: "acts" });
    if (alert.status === "open")
      row.append(h("button", { type: "button", class: "primary", id: "act-take", onclick: () => act("take") }, w("act.take")));
    if (alert.status !== "on_scene")
      row.append(h("button", { type: "button", id: "act-on-scene", onclick: () => act("on-scene") }, w("act.on_scene")));
    if (!alert.drill)
      row.append(h("button", { type: "button", class: "danger", id: "act-escalate", onclick: () => act("escalate") }, w("act.escalate")));
    out.push(row);
    const others = patrol.filter((p) => p.name !== alert.taken_by);
    if (others.length) {
      const pick = h(
        "select",
        { id: "reassign-to", "aria-label": w("act.reassign_to") },
        others.map((p) => h("option", { value: String(p.staff_id) }, `${p.name} · ${w("role." + p.role)}`)),
      );
      out.push(
        h(
          "div",
          { class: "acts" },
          h("label", {}, w("act.reassign_to"), pick),
          h("button", { type: "button", id: "act-reassign", onclick: () => act("reassign", { staff_id: Number(pick.value) }) }, w("act.reassign")),
        ),
      );
    }
    const outcome = h(
      "select",
      { id: "resolve-outcome", "aria-label": w("act.outcome") },
      OUTCOMES.map((o) => h("option", { value: o }, w("outcome." + o))),
    );
    const note = h("input", { id: "resolve-note", type: "text", maxlength: "1000", placeholder: w("act.resolve_note") });
    out.push(
      h(
        "div",
        { class: "acts" },
        h("label", {}, w("act.outcome"), outcome),
        h("label", { class: "grow" }, w("act.resolve_note"), note),
        h("button", {
          type: "button",
          class: "primary",
          id: "act-resolve",
          onclick: () => act("resolve", { outcome: outcome.value, note: note.value.trim() || null }),
        }, w("act.resolve")),
      ),
    );
  }
  const text = h("textarea", { id: "note-text", rows: "2", maxlength: "1000", placeholder: w("act.note_placeholder") });
  out.push(
    h(
      "form",
      {
        class: "acts note",
        onsubmit: (e) => {
          e.preventDefault();
          if (text.value.trim()) act("notes", { text: text.value.trim() });
        },
      },
      h("label", { class: "grow" }, w("act.note"), text),
      h("button", { type: "submit", id: "act-note" }, w("act.note")),
    ),
  );
  return out;
}

/** The pane's content for an alarm: {alert, detail (GET one), events, patrol}; act(step, body). */
export function render({ alert, detail, events, patrol, act }) {
  const a = { ...(detail || {}), ...alert }; // the list's is the fresher (the stream reloads it)
  const calls = [];
  if (a.caller) calls.push(tel(a.caller, w("call.caller")));
  if (a.raiser_phone) calls.push(tel(a.raiser_phone, w("call.raiser")));
  const context = a.responder;
  const facts = [
    ...fact(w("d.raised_by"), a.raised_by || a.caller || w("nobody")),
    ...fact(w("d.group"), a.group || w("nobody")),
    ...fact(w("d.grid"), a.grid || w("nobody")),
    ...fact(w("d.raised"), clock(a.created_at), " · ", h("span", { dataset: { at: a.created_at } }, ago(a.created_at))),
    ...fact(w("d.coming"), String(a.coming), " / ", String(a.neighbours)),
    ...fact(w("d.taken"), a.taken_by || w("nobody")),
  ];
  if (OPEN.has(a.status))
    facts.push(
      ...fact(
        w("d.due"),
        a.next_escalation_at
          ? h("span", { id: "detail-due", dataset: { due: a.next_escalation_at } }, countdown(a.next_escalation_at))
          : w("due.none"),
        a.next_escalation_at ? h("small", { id: "detail-due-at" }, " (" + clock(a.next_escalation_at) + ")") : null,
      ),
    );
  if (a.outcome) facts.push(...fact(w("d.outcome"), w("outcome." + a.outcome)));
  if (a.note) facts.push(...fact(w("d.note"), a.note));
  return [
    h(
      "header",
      { class: "d-head" },
      h("h2", { id: "detail-title" }, h("span", { class: "t-" + a.type }, w("type." + a.type)), " ", a.household || a.caller || "?"),
      h("span", { class: "state s-" + a.status }, w("status." + a.status)),
      badges(a, Boolean(a.linked_alert_id && a.confirmed)),
    ),
    calls.length ? h("div", { class: "calls", id: "calls" }, h("h3", {}, w("call.title")), ...calls) : null,
    context
      ? h(
          "div",
          { class: "context" },
          h("h3", {}, w("context.title")),
          context.spare_key_holder ? h("p", {}, w("context.key"), ": ", context.spare_key_holder) : null,
          context.care_note ? h("p", {}, w("context.care"), ": ", context.care_note) : null,
          context.away_until ? h("p", {}, w("context.away"), ": ", context.away_until) : null,
        )
      : null,
    h("dl", { class: "facts" }, facts),
    h("div", { class: "actions" }, actions(a, { patrol, act })),
    h("h3", {}, w("timeline.title")),
    timeline(events || []),
  ];
}
