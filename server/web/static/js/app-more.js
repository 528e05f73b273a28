// The resident app's second screen, below the help button: the group's alarms closed lately,
// changing the household's PINs, and (for a group leader) starting a drill.

import { api } from "./api.js";
import { h, fill } from "./dom.js";
import { t } from "./words.js";

/** "2 分钟前" for an ISO time. */
export function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds) || seconds < 60) return t("app.ago.now");
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t("app.ago.minutes", { n: minutes });
  return t("app.ago.hours", { n: Math.floor(minutes / 60) });
}

/** Draw the alarms closed in the last 24 hours (GET /api/alerts?closed=true). */
export async function showRecent() {
  const list = document.getElementById("recent");
  let closed;
  try {
    closed = await api("GET", "/api/alerts?closed=true&limit=20");
  } catch {
    return; // kept as it was: the next close or open draws it again
  }
  if (!closed.length) {
    fill(list, h("li", { class: "note" }, t("app.recent.none")));
    return;
  }
  fill(
    list,
    closed.map((a) =>
      h(
        "li",
        { dataset: { alert: a.id } },
        t("app.recent.item", {
          who: [a.household, a.raised_by].filter(Boolean).join(" "),
          type: t(`type.${a.type}`),
          // a cancel reads as cancelled (its stored outcome is false_alarm); a duress one too
          outcome: t(`outcome.${a.status === "cancelled" ? "cancelled" : a.outcome || "handled"}`),
          ago: ago(a.closed_at || a.updated_at),
        }) + (a.drill ? ` (${t("app.drill")})` : ""),
      ),
    ),
  );
}

function noteOf(form, text, ok) {
  const note = form.querySelector(".form-note");
  note.textContent = text;
  note.classList.toggle("ok", ok);
}

async function changePins(form) {
  const values = Object.fromEntries(new FormData(form));
  const body = { pin: values.pin, duress_pin: values.duress_pin };
  if (values.current) body.current = values.current;
  if (!/^[0-9]{4,8}$/.test(body.pin) || !/^[0-9]{4,8}$/.test(body.duress_pin)) {
    noteOf(form, t("signin.pin_digits"), false);
    return;
  }
  if (body.pin === body.duress_pin) {
    noteOf(form, t("signin.pin_same"), false);
    return;
  }
  try {
    await api("PUT", "/api/household/pin", { json: body });
    form.reset();
    noteOf(form, t("app.pins.saved"), true);
  } catch (error) {
    noteOf(form, error.message, false);
  }
}

async function startDrill(form) {
  const values = Object.fromEntries(new FormData(form));
  try {
    await api("POST", "/api/drills", { json: { label: values.label, type: values.type } });
    form.reset();
    noteOf(form, t("app.drill.started"), true);
  } catch (error) {
    noteOf(form, error.message, false);
  }
}

/** Wire the second screen for this person (`me` of GET /api/me). */
export function wireMore(me) {
  const more = document.getElementById("more");
  document.getElementById("drill-form").hidden = !me?.group_leader;
  more.addEventListener("toggle", () => {
    if (more.open) showRecent();
  });
  for (const [id, act] of [
    ["pin-form", changePins],
    ["drill-form", startDrill],
  ]) {
    const form = document.getElementById(id);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(form);
    });
  }
}
