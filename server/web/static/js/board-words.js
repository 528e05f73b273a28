// The board's labels (server/words/board.json, keys "board.…", in the catalogue words.js
// reads): w(key, values) in the person's language; ages, countdowns and clock times.

import { t } from "./words.js";

/** The board's label for key in the person's language, with {name} filled from values. */
export function w(key, values = {}) {
  // An alarm's type and outcome are the catalogue's shared words: the texts say the same.
  return t(/^(type|outcome)\./.test(key) ? key : "board." + key, values);
}

/** "2 分钟前" for a time (an ISO string or ms) as seen at now (ms). */
export function ago(at, now = Date.now()) {
  const seconds = Math.max(0, Math.floor((now - new Date(at).getTime()) / 1000));
  if (seconds < 5) return w("ago.now");
  if (seconds < 60) return w("ago.s", { n: seconds });
  if (seconds < 3600) return w("ago.m", { n: Math.floor(seconds / 60) });
  if (seconds < 86400) return w("ago.h", { n: Math.floor(seconds / 3600) });
  return w("ago.d", { n: Math.floor(seconds / 86400) });
}

/** The countdown to a due time: "1:05", "0:09"; "escalating" once it is due; "—" without one. */
export function countdown(due, now = Date.now()) {
  if (!due) return w("due.none");
  const left = Math.ceil((new Date(due).getTime() - now) / 1000);
  if (left <= 0) return w("due.now");
  const m = Math.floor(left / 60);
  const s = String(left % 60).padStart(2, "0");
  return w("due.in", { t: `${m}:${s}` });
}

/** A clock time in the page's locale (HH:MM:SS), with the date when it is not today. */
export function clock(at) {
  const d = new Date(at);
  const time = d.toLocaleTimeString("zh-CN", { hour12: false });
  const today = new Date().toDateString() === d.toDateString();
  return today ? time : `${d.toLocaleDateString("zh-CN")} ${time}`;
}
