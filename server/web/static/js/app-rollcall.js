// The resident app's "are you OK?" (平安报) after a disaster: a roll call asking this household
// shows two large answers until the household answers (here, by text, by call or on another
// phone). The questions come as `rollcall.asked` on the group's stream and, after a reload,
// from GET /api/me/rollcalls (docs/rollcall.md).

import { api } from "./api.js";

export class RollCalls {
  /** `household`: this household's address; `changed()`: draw again. */
  constructor({ changed }) {
    this.open = new Map(); // roll call id → {id, note}
    this.household = null;
    this.changed = changed;
    this.busy = false;
  }

  /** The open roll calls asking this household that it has not answered. */
  async load(household) {
    this.household = household;
    const asked = await api("GET", "/api/me/rollcalls");
    this.open.clear();
    for (const r of asked) if (!r.answer) this.open.set(r.id, { id: r.id, note: r.note });
    this.changed();
  }

  /** A stream event; true when it was a roll call's (it is not an alarm's). */
  onEvent(event) {
    if (!event.type.startsWith("rollcall.")) return false;
    const data = event.data || {};
    const id = data.rollcall_id;
    if (event.type === "rollcall.asked" && (data.households || []).includes(this.household)) {
      if (data.status !== "closed") this.open.set(id, { id, note: data.note });
    } else if (event.type === "rollcall.answered" && data.household === this.household) {
      this.open.delete(id);
    } else if (event.type === "rollcall.closed") {
      this.open.delete(id);
    }
    this.changed();
    return true;
  }

  /** The first roll call to answer, or null. */
  first() {
    return [...this.open.values()].sort((a, b) => a.id - b.id)[0] || null;
  }

  /** Answer the first one: "ok" or "help" (which raises the household's alarm). */
  async answer(answer) {
    const first = this.first();
    if (!first || this.busy) return null;
    this.busy = true;
    this.changed();
    try {
      const answered = await api("POST", `/api/rollcalls/${first.id}/answer`, { json: { answer } });
      this.open.delete(first.id);
      return answered;
    } finally {
      this.busy = false;
      this.changed();
    }
  }
}
