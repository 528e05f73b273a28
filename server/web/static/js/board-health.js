// The board's health strip: the system's own state for staff, from /readyz's staff details
// (the session cookie says who asks), looked at every 15 s. "系统正常", or what is wrong first:
// no database, the alarm path's failing leg and for how long (supervision), a wedged worker,
// a degraded part (docs/operate.md, Supervision).

import { w } from "./board-words.js";

const EVERY_MS = 15000;
const PARTS = ["database", "bus", "devices", "outbox", "scheduler", "rollcall", "checkpoint"];

/** "2 分钟" for a number of seconds. */
function lasting(seconds) {
  if (seconds < 60) return w("health.for.s", { n: seconds });
  if (seconds < 3600) return w("health.for.m", { n: Math.floor(seconds / 60) });
  return w("health.for.h", { n: Math.floor(seconds / 3600) });
}

/** What the strip says for a /readyz body (null: it could not be read): [state, text, detail]. */
export function said(body) {
  if (!body || !body.status) return ["unknown", w("health.unknown"), ""];
  if (body.status === "unavailable") return ["bad", w("health.unavailable"), String(body.database || "")];
  const path = body.supervision;
  if (path && path.state === "failing") {
    const text = w("health.path", { leg: w("health.leg." + path.failing), time: lasting(path.failing_for_seconds || 0) });
    return ["bad", text, path.reason || ""];
  }
  const wedged = body.wedged || [];
  if (wedged.length) {
    const names = wedged.map((name) => w("health.part." + name)).join("、");
    return ["bad", w("health.wedged", { names }), wedged.map((name) => body[name]).join("; ")];
  }
  const degraded = PARTS.filter((part) => typeof body[part] === "string" && body[part] !== "ok");
  if (body.status === "degraded" || degraded.length) {
    const parts = degraded.map((part) => w("health.part." + part)).join("、");
    return ["warn", w("health.degraded", { parts }), degraded.map((part) => body[part]).join("; ")];
  }
  return ["ok", w("health.ok"), ""];
}

/** Show the strip in el and keep it current; returns {draw} to redraw (a language switch). */
export function showHealth(el) {
  let body = null;
  const draw = () => {
    const [state, text, detail] = said(body);
    el.dataset.state = state;
    el.textContent = text;
    el.title = detail;
    el.hidden = false;
  };
  const look = async () => {
    try {
      const answer = await fetch("/readyz", { credentials: "same-origin", headers: { Accept: "application/json" } });
      body = await answer.json();
    } catch {
      body = null;
    }
    draw();
  };
  look();
  setInterval(look, EVERY_MS);
  return { draw };
}
