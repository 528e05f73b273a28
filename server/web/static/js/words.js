// Every label of the pages, in Chinese and English, from the one catalogue the texts and calls
// use too (server/words, served as catalogue.js); the person's language comes from the service
// (GET /api/me/language), and a visible switch changes it (PUT, so texts follow).

import { api } from "./api.js";
import catalogue from "./catalogue.js";

export const WORDS = catalogue;

let language = "zh";

/** The label for key in the current language, with {name} filled from values. */
export function t(key, values = {}) {
  const text = WORDS[language][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** The current language ("zh" or "en"). */
export const current = () => language;

/** Set the language for the page (and the document's lang). */
export function use(lang) {
  language = lang === "en" ? "en" : "zh";
  document.documentElement.lang = language === "en" ? "en" : "zh-CN";
}

/** Load the person's language from the service. */
export async function load() {
  try {
    use((await api("GET", "/api/me/language")).language);
  } catch {
    use("zh");
  }
  return language;
}

/** Switch to the other language and keep it for the person (their texts follow). */
export async function toggle() {
  const next = language === "en" ? "zh" : "en";
  use(next);
  try {
    await api("PUT", "/api/me/language", { json: { language: next } });
  } catch {
    /* the page still switches */
  }
  return next;
}
