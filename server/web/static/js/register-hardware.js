// The register's hardware section (docs/devices.md): pair a panic button with a household or a
// siren, strobe or loudspeaker with a building (or the whole yard); see how each button stands
// (ok, low battery, quiet) and which topics were heard from devices nobody paired.

import { api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { t } from "./words.js";

const KINDS = ["button", "siren", "strobe", "speaker"];
const TYPES = ["help", "medical", "fire"];

function say(text, kind = "ok") {
  const status = $("#status");
  status.textContent = text;
  status.className = "status " + kind;
}

async function act(action) {
  try {
    await action();
    say(t("saved"));
    await hardware();
  } catch (error) {
    say(error.message, "error");
  }
}

function labelled(label, input) {
  return h("label", {}, label, input);
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : t("hardware.never"));

function row(d) {
  const state = d.state ? h("span", { class: "state " + d.state }, t("hardware.state." + d.state)) : "";
  const where = d.household || (d.kind === "button" ? "" : d.building || "—");
  return h(
    "tr",
    { dataset: { device: d.name } },
    h("td", {}, t("hardware.kind." + d.kind)),
    h("td", {}, d.name),
    h("td", {}, where, d.label ? ` · ${d.label}` : ""),
    h("td", {}, d.kind === "button" ? t("type." + d.alert_type) : ""),
    h("td", {}, state),
    h("td", {}, when(d.last_seen_at)),
    h("td", {}, d.battery == null ? "—" : `${d.battery}%`),
    h("td", {}, h("button", { type: "button", onclick: () => act(() => api("DELETE", `/api/hardware/${d.id}`)) }, t("hardware.unpair"))),
  );
}

/** Show the section in #main. */
export async function hardware() {
  const [devices, unknown] = await Promise.all([api("GET", "/api/hardware"), api("GET", "/api/hardware/unknown")]);
  const kind = h("select", { id: "hw-kind" }, KINDS.map((k) => h("option", { value: k }, t("hardware.kind." + k))));
  const type = h("select", { id: "hw-type" }, TYPES.map((k) => h("option", { value: k }, t("type." + k))));
  const name = h("input", { id: "hw-name", maxlength: 100 });
  const topic = h("input", { id: "hw-topic", maxlength: 200, placeholder: "zigbee2mqtt/…" });
  const household = h("input", { id: "hw-household", maxlength: 40, placeholder: "B11-1-301" });
  const label = h("input", { id: "hw-label", maxlength: 100 });
  const building = h("input", { id: "hw-building", maxlength: 20, placeholder: "B11" });
  const pair = () =>
    act(() => {
      const button = kind.value === "button";
      return api("POST", "/api/hardware", {
        json: {
          kind: kind.value,
          name: name.value.trim(),
          topic: topic.value.trim() || null,
          household: button ? household.value.trim() || null : null,
          label: label.value.trim() || null,
          alert_type: type.value,
          building: button ? null : building.value.trim() || null,
        },
      });
    });
  fill(
    $("#main"),
    h(
      "section",
      { class: "card", id: "hardware" },
      h("h2", {}, t("hardware.title")),
      h("p", {}, t("hardware.why")),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, [t("hardware.kind"), t("hardware.name"), t("hardware.household"), t("hardware.alert_type"), t("hardware.state"), t("hardware.last_seen"), t("hardware.battery"), ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, devices.map(row)),
      ),
      h(
        "div",
        { class: "row" },
        labelled(t("hardware.kind"), kind),
        labelled(t("hardware.name"), name),
        labelled(t("hardware.topic"), topic),
        labelled(t("hardware.household"), household),
        labelled(t("hardware.label"), label),
        labelled(t("hardware.alert_type"), type),
        labelled(t("hardware.building"), building),
        h("button", { class: "primary", type: "button", id: "hw-pair", onclick: pair }, t("hardware.pair")),
      ),
    ),
    h(
      "section",
      { class: "card", id: "hardware-unknown" },
      h("h2", {}, t("hardware.unknown")),
      unknown.length
        ? h("table", {}, h("tbody", {}, unknown.map((u) => h("tr", {}, h("td", {}, u.topic), h("td", {}, `${t("hardware.messages")}: ${u.messages}`), h("td", {}, when(u.last_seen_at)), h("td", {}, u.last_payload || "")))))
        : h("p", {}, t("hardware.none")),
    ),
  );
}
