// "My devices": every session (and token) of mine in force, each with a button that signs it
// out at once ("lost phone"); signing out this device goes back to the sign-in page.

import { api } from "./api.js";
import { h, fill } from "./dom.js";
import { load, t, toggle } from "./words.js";

const $ = (id) => document.getElementById(id);

function when(text) {
  return text ? new Date(text).toLocaleString(document.documentElement.lang) : t("devices.never");
}

function render() {
  for (const node of document.querySelectorAll("[data-word]")) node.textContent = t(node.dataset.word);
  document.title = t("devices.title");
}

async function signOut(device) {
  $("message").textContent = "";
  try {
    if (device.current) {
      await api("POST", "/api/sign-out");
      location.assign("/signin");
      return;
    }
    await api("DELETE", `/api/sessions/${device.id}`);
    await list();
  } catch (error) {
    $("message").textContent = error.message;
  }
}

async function list() {
  const devices = await api("GET", "/api/sessions");
  fill(
    $("devices"),
    devices.map((device) =>
      h(
        "li",
        { class: "device" },
        h("strong", {}, device.device || t("devices.unknown")),
        device.current ? h("span", { class: "badge" }, t("devices.this")) : null,
        h("p", {}, t("devices.since", { since: when(device.created_at), ends: when(device.expires_at) })),
        h(
          "button",
          { type: "button", onclick: () => signOut(device) },
          device.current ? t("devices.sign_out_here") : t("devices.sign_out"),
        ),
      ),
    ),
  );
}

$("language").addEventListener("click", async () => {
  await toggle();
  render();
  await list();
});
await load();
render();
await list().catch((error) => {
  $("message").textContent = error.message;
});
