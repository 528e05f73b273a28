// The sign-in page: phone → code by SMS → who (when the phone is several people's) → the
// household's cancel PIN on its first sign-in → what is kept about the person (consent) → the
// page they came for. The session lives in an HttpOnly cookie the server sets; this script
// never sees it. Before signing in there is no person to ask for a language: the switch is
// kept on this device, and given to the person once signed in.

import { api } from "./api.js";
import { showConsent } from "./consent.js";
import { current, t, use } from "./words.js";

const $ = (id) => document.getElementById(id);
let phone = "";
let choice = null;
let destination = "/app";

function render() {
  for (const node of document.querySelectorAll("[data-word]")) node.textContent = t(node.dataset.word);
  document.title = t("signin.title");
}

function say(text) {
  $("message").textContent = text || "";
}

function show(step) {
  for (const id of ["phone-step", "code-step", "choose-step", "pin-step"]) $(id).hidden = id !== step;
  const first = $(step).querySelector("input, button");
  if (first) first.focus();
}

// The sign-in calls themselves: a 401 here is a wrong code, to say on this page (api.js
// would send the person to sign in, which is where they are).
async function signInCall(path, json) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(json),
    });
  } catch {
    throw new Error(t("signin.offline"));
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.detail;
    const text = Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : detail;
    throw new Error(typeof text === "string" ? text : `HTTP ${response.status}`);
  }
  return data;
}

function normalise(text) {
  const digits = text.replace(/[\s-]/g, "");
  if (/^1\d{10}$/.test(digits)) return "+86" + digits; // a mainland mobile typed without +86
  return digits;
}

async function sendCode(event) {
  event.preventDefault();
  say("");
  phone = normalise($("phone").value);
  try {
    const sent = await signInCall("/api/sign-in/code", { phone });
    $("code-sent").textContent = t("signin.sent", { minutes: Math.round(sent.valid_seconds / 60) });
    show("code-step");
  } catch (error) {
    say(error.message);
  }
}

async function verify(event) {
  event.preventDefault();
  say("");
  try {
    const answer = await signInCall("/api/sign-in/verify", { phone, code: $("code").value.trim() });
    if (answer.signed_in) return signedIn(answer);
    choice = answer.choice;
    const list = $("choices");
    list.replaceChildren();
    for (const person of answer.choose) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = person.label;
      button.addEventListener("click", () => choose(person.identity));
      list.append(button);
    }
    show("choose-step");
  } catch (error) {
    say(error.message);
  }
}

async function choose(identity) {
  say("");
  try {
    await signedIn(await signInCall("/api/sign-in/choose", { phone, choice, identity }));
  } catch (error) {
    say(error.message);
  }
}

async function signedIn(answer) {
  const next = new URLSearchParams(location.search).get("next");
  const safe = next && next.startsWith("/") && !next.startsWith("//") && next !== "/signin";
  destination = safe ? next : answer.kind === "staff" ? "/board" : "/app";
  if (localStorage.getItem("tw.language")) {
    await api("PUT", "/api/me/language", { json: { language: current() } }).catch(() => null);
  }
  if (answer.needs_pin) return show("pin-step");
  return finish();
}

async function finish() {
  for (const id of ["phone-step", "code-step", "choose-step", "pin-step"]) $(id).hidden = true;
  try {
    await showConsent($("consent"));
    location.assign(destination);
  } catch (error) {
    say(error.message);
  }
}

async function savePin(event) {
  event.preventDefault();
  say("");
  const pin = $("pin").value.trim();
  const duress = $("duress").value.trim();
  if (!/^\d{4,8}$/.test(pin) || !/^\d{4,8}$/.test(duress)) return say(t("signin.pin_digits"));
  if (duress === pin) return say(t("signin.pin_same"));
  try {
    await api("PUT", "/api/household/pin", { json: { pin, duress_pin: duress } });
    await finish();
  } catch (error) {
    say(error.message);
  }
}

$("phone-step").addEventListener("submit", sendCode);
$("code-step").addEventListener("submit", verify);
$("pin-step").addEventListener("submit", savePin);
$("again").addEventListener("click", () => show("phone-step"));
$("language").addEventListener("click", () => {
  use(current() === "zh" ? "en" : "zh");
  localStorage.setItem("tw.language", current());
  render();
});
use(localStorage.getItem("tw.language") === "en" ? "en" : "zh");
render();
