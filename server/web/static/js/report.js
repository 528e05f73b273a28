// The monthly report page (每月治安形势分析): choose a month and a grid, read the figures with
// their charts (SVG drawn by the service), print it (A4, see report.css) or download the PDF
// and the CSV. Labels: the catalogue's report.* entries (server/words/report.json).

import { api } from "./api.js";
import { $, fill, h } from "./dom.js";
import * as words from "./words.js";

const state = { me: null, report: null, asked: 0 };
const { t } = words;

function say(text, kind = "ok") {
  const status = $("#status");
  status.textContent = text;
  status.className = "status " + kind;
}

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
}

/** The query of the chosen month, grid and language. */
function query(extra = {}) {
  const params = new URLSearchParams({ month: $("#month").value || thisMonth(), lang: words.current() });
  if ($("#grid").value) params.set("grid", $("#grid").value);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params.toString();
}

function locale() {
  return words.current() === "en" ? "en-GB" : "zh-CN";
}

/** A moment in the community's time zone, in the reader's language. */
function moment(iso, timezone, withTime = true) {
  const options = withTime
    ? { timeZone: timezone, dateStyle: "long", timeStyle: "short" }
    : { timeZone: timezone, dateStyle: "long" };
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

function monthName(month) {
  const [year, number] = month.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(), { year: "numeric", month: "long", timeZone: "UTC" }).format(
    new Date(Date.UTC(year, number - 1, 15)),
  );
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return t("report.response.none");
  const whole = Math.round(seconds);
  if (whole < 60) return t("report.response.seconds", { n: whole });
  return t("report.response.minutes", { m: Math.floor(whole / 60), s: whole % 60 });
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

function table(headers, rows, numeric = []) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((x, i) => h("th", { class: numeric.includes(i) ? "num" : null }, x)))),
    h(
      "tbody",
      {},
      rows.map((row) => h("tr", {}, row.map((x, i) => h("td", { class: numeric.includes(i) ? "num" : null }, x)))),
    ),
  );
}

function block(id, title, ...children) {
  return h("section", { class: "block", id }, h("h2", {}, title), ...children);
}

function card(id, what, n) {
  return h("div", { class: "card", id }, h("span", { class: "n" }, String(n)), h("span", { class: "what" }, what));
}

function named(row) {
  return row.id === null ? t("report.figure.none") : row.name;
}

function responseTable(figures) {
  return table(
    [t("report.response.what"), t("report.response.count"), t("report.response.median"), t("report.response.p90")],
    Object.entries(figures.response).map(([step, r]) => [
      t(`report.response.${step}`),
      r.count,
      duration(r.median_seconds),
      duration(r.p90_seconds),
    ]),
    [1, 2, 3],
  );
}

function render(report) {
  const f = report.figures;
  const drills = report.drills;
  const scope = report.grid ? report.grid.name : t("report.whole");
  document.title = `${t("report.title")} · ${scope} · ${monthName(report.month)}`;
  $("#title").textContent = t("report.title");
  $("#subtitle").textContent = t("report.subtitle", { community: report.community, scope, month: monthName(report.month) });
  $("#period").textContent =
    t("report.period", {
      since: moment(report.since, report.timezone, false),
      until: moment(new Date(new Date(report.until).getTime() - 1000).toISOString(), report.timezone, false),
      timezone: report.timezone,
    }) +
    " · " +
    t("report.generated", { at: moment(report.generated_at, report.timezone) });
  const charts = report.charts.map((name) =>
    h(
      "figure",
      { dataset: { chart: name } },
      h("img", { src: `/api/reports/monthly.svg?${query({ chart: name })}`, alt: t(`report.section.${name}`), loading: "eager" }),
    ),
  );
  const unreachable = report.unreachable;
  fill(
    $("#report"),
    h(
      "div",
      { class: "cards" },
      card("total", t("report.figure.total"), f.total),
      card("false-alarms", t("report.figure.false_alarms"), f.false_alarms),
      card("duress", t("report.figure.duress"), f.duress),
      card("drills", t("report.figure.drills"), drills.total),
    ),
    f.total ? null : h("p", { class: "note" }, t("report.empty")),
    h("div", { class: "charts" }, charts),
    block("response", t("report.section.response"), responseTable(f)),
    block(
      "by-type",
      t("report.section.by_type"),
      table([t("report.figure.name"), t("report.figure.count")], Object.entries(f.by_type).map(([k, n]) => [t(`type.${k}`), n]), [1]),
    ),
    block("by-grid", t("report.section.by_grid"), table([t("report.figure.name"), t("report.figure.count")], f.by_grid.map((r) => [named(r), r.count]), [1])),
    block("by-group", t("report.section.by_group"), table([t("report.figure.name"), t("report.figure.count")], f.by_group.map((r) => [named(r), r.count]), [1])),
    block(
      "escalations",
      t("report.section.escalations"),
      table(
        [t("report.level.what"), t("report.level.events"), t("report.level.alarms")],
        Object.entries(f.escalations).map(([level, c]) => [t(`report.level.${level}`), c.events, c.alarms]),
        [1, 2],
      ),
    ),
    block(
      "delivery",
      t("report.section.delivery"),
      table(
        [t("report.channel.what"), ...["total", "delivered", "sent", "failed", "pending", "withdrawn", "rate"].map((p) => t(`report.delivery.${p}`))],
        Object.entries(f.delivery).map(([channel, c]) => [
          t(`report.channel.${channel}`),
          c.total,
          c.delivered,
          c.sent,
          c.failed,
          c.pending,
          c.withdrawn,
          percent(c.rate),
        ]),
        [1, 2, 3, 4, 5, 6, 7],
      ),
    ),
    block(
      "unreachable",
      t("report.section.unreachable"),
      table(
        [t("report.csv.item"), t("report.figure.count")],
        ["households", "no_phone", "last_text_failed", "no_app", "unreachable"].map((k) => [t(`report.unreachable.${k}`), unreachable[k]]),
        [1],
      ),
      h("p", { class: "note" }, t("report.unreachable.how")),
      unreachable.addresses.length ? h("p", { class: "addresses" }, unreachable.addresses.join("  ")) : null,
    ),
    block(
      "drills-apart",
      t("report.section.drills"),
      h("p", { class: "note" }, t("report.drills_apart")),
      table(
        [t("report.figure.name"), t("report.figure.count")],
        [[t("report.figure.drills"), drills.total], ...Object.entries(drills.by_type).filter(([, n]) => n).map(([k, n]) => [t(`type.${k}`), n])],
        [1],
      ),
      responseTable(drills),
    ),
  );
}

function chrome(report) {
  $("#brand").textContent = words.current() === "en" ? "TenWatch" : "十户联防";
  $("#month-label").textContent = t("report.month");
  $("#grid-label").textContent = t("report.grid");
  $("#show").textContent = t("report.show");
  $("#print").textContent = t("report.print");
  $("#pdf").textContent = t("report.pdf");
  $("#csv").textContent = t("report.csv");
  $("#lang").textContent = t("lang.switch");
  $("#who").textContent = state.me ? state.me.name : "";
  const chosen = report.grid ? String(report.grid.id) : "";
  const options = report.whole ? [h("option", { value: "" }, t("report.whole"))] : [];
  for (const g of report.grids) options.push(h("option", { value: String(g.id) }, g.name));
  fill($("#grid"), options);
  $("#grid").value = chosen;
  $("#grid").disabled = !report.whole;
}

async function show() {
  const asked = ++state.asked; // a later choice wins over an answer still on its way
  say(t("report.loading"));
  delete document.body.dataset.ready;
  try {
    const report = await api("GET", `/api/reports/monthly?${query()}`);
    if (asked !== state.asked) return;
    state.report = report;
    $("#month").value = report.month;
    chrome(report);
    render(report);
    $("#pdf").href = `/api/reports/monthly.pdf?${query()}`;
    $("#csv").href = `/api/reports/monthly.csv?${query()}`;
    history.replaceState(null, "", `/report?${query()}`);
    document.body.dataset.ready = "true";
    say("");
  } catch (error) {
    if (asked === state.asked) say(error.message, "error");
  }
}

async function start() {
  const params = new URLSearchParams(location.search);
  await words.load();
  $("#month").value = params.get("month") || thisMonth();
  if (params.get("grid")) fill($("#grid"), h("option", { value: params.get("grid") }, params.get("grid")));
  try {
    state.me = await api("GET", "/api/me");
  } catch {
    state.me = null;
  }
  $("#controls").addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  $("#grid").addEventListener("change", show);
  $("#print").addEventListener("click", () => window.print());
  $("#lang").addEventListener("click", async () => {
    await words.toggle();
    await show();
  });
  await show();
}

start();
