// The register page (登记造册): households, staff, roster, policy, alarm numbers, import and
// export, the audit log. The admin changes them; a group leader reads their own group.

import { api, upload } from "./api.js";
import { showConsent } from "./consent.js";
import { $, fill, h } from "./dom.js";
import * as words from "./words.js";

const { t } = words;
const SECTIONS = ["households", "staff", "roster", "policy", "numbers", "import", "audit"];
const STAFF_ROLES = ["patrol_member", "patrol_leader", "grid_manager", "police_office", "admin"];
const state = { me: null, admin: false, section: "households", q: "", offset: 0, groups: [] };
const main = () => $("#main");

function say(text, kind = "ok") {
  const status = $("#status");
  status.textContent = text;
  status.className = "status " + kind;
}

/** Run an action; show its refusal's sentence, or its notes (a group left small). */
async function act(action, done) {
  try {
    const answer = await action();
    const notes = answer && answer.notes && answer.notes.length ? answer.notes : null;
    say(notes ? t("notes") + notes.join("; ") : t("saved"), notes ? "error" : "ok");
    if (done) await done(answer);
    return answer;
  } catch (error) {
    say(error.message, "error");
    return null;
  }
}

function field(label, attrs = {}) {
  const input = h("input", { ...attrs });
  return [h("label", {}, label, input), input];
}

function languageSelect(value) {
  return h(
    "select",
    {},
    ["zh", "en"].map((l) => h("option", { value: l, selected: l === value }, l === "zh" ? "中文" : "English")),
  );
}

// -- households ------------------------------------------------------------------------------

async function households() {
  state.groups = await api("GET", "/api/register/groups");
  const [searchLabel, search] = field(t("search.placeholder"), { type: "search", value: state.q, id: "search" });
  const list = h("div", { id: "households" });
  const detail = h("div", { id: "detail" });
  const find = async () => {
    state.q = search.value.trim();
    await listHouseholds(list, detail);
  };
  search.addEventListener("keydown", (e) => e.key === "Enter" && ((state.offset = 0), find()));
  const card = h(
    "section",
    { class: "card" },
    h("h2", {}, t("nav.households")),
    state.admin ? null : h("p", { class: "notes" }, t("leader.readonly")),
    h("div", { class: "row" }, searchLabel, h("button", { class: "primary", onclick: () => ((state.offset = 0), find()) }, t("search.button"))),
    detail,
    list,
  );
  fill(main(), card, state.admin ? moveInCard(find) : null);
  await listHouseholds(list, detail);
}

async function listHouseholds(list, detail) {
  const params = new URLSearchParams({ limit: "50", offset: String(state.offset) });
  if (state.q) params.set("q", state.q);
  const page = await api("GET", "/api/register/households?" + params);
  const rows = page.households.map((hh) =>
    h(
      "tr",
      { dataset: { address: hh.address } },
      h("td", {}, h("strong", {}, hh.address), hh.leader ? " ★" : ""),
      h("td", {}, hh.group || "—"),
      h("td", {}, hh.grid || "—"),
      h("td", {}, hh.residents.map((r) => `${r.name} ${r.phone || ""}`).join("，")),
      h("td", {}, h("button", { onclick: () => openHousehold(hh.id, detail, () => listHouseholds(list, detail)) }, t("household.open"))),
    ),
  );
  const pager = h(
    "div",
    { class: "row" },
    h("span", {}, t("households.count", { n: page.total })),
    state.offset > 0 ? h("button", { onclick: () => ((state.offset -= 50), listHouseholds(list, detail)) }, t("households.prev")) : null,
    state.offset + 50 < page.total ? h("button", { onclick: () => ((state.offset += 50), listHouseholds(list, detail)) }, t("households.more")) : null,
  );
  fill(
    list,
    pager,
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, [t("household.address"), t("household.group"), t("household.grid"), t("household.residents"), ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows),
    ),
  );
}

async function openHousehold(id, detail, refresh) {
  const hh = await act(() => api("GET", `/api/register/households/${id}`));
  if (!hh) return;
  say("");
  const close = h("button", { onclick: () => fill(detail) }, t("household.close"));
  const people = h(
    "ul",
    {},
    hh.residents.map((r) =>
      h(
        "li",
        {},
        `${r.name} ${r.phone || ""} ${r.roles.join(", ")} `,
        state.admin
          ? h("button", { onclick: () => act(() => api("DELETE", `/api/register/residents/${r.id}`), () => openHousehold(id, detail, refresh)) }, t("resident.remove"))
          : null,
      ),
    ),
  );
  const card = h("section", { class: "card", id: "household-card" }, h("h2", {}, `${hh.address} · ${hh.group || "—"}`), people);
  if (state.admin) {
    const lang = languageSelect(hh.language);
    const [gridLabel, grid] = field(t("household.grid"), { value: hh.grid || "", maxlength: 50 });
    const [keyLabel, key] = field(t("household.spare_key_holder"), { value: hh.spare_key_holder || "", maxlength: 200 });
    const [noteLabel, note] = field(t("household.care_note"), { value: hh.care_note || "", maxlength: 500 });
    const [awayLabel, away] = field(t("household.away_until"), { type: "date", value: hh.away_until || "" });
    const save = () =>
      act(
        () =>
          api("PATCH", `/api/register/households/${id}`, {
            json: {
              language: lang.value,
              grid: grid.value.trim() || null,
              spare_key_holder: key.value.trim() || null,
              care_note: note.value.trim() || null,
              away_until: away.value || null,
            },
          }),
        refresh,
      );
    const group = h(
      "select",
      { id: "move-group" },
      state.groups.filter((g) => g.id !== hh.group_id).map((g) => h("option", { value: g.id }, `${g.name} (${g.size})`)),
    );
    const [nameLabel, name] = field(t("move_in.name"), { maxlength: 100 });
    const [phoneLabel, phone] = field(t("move_in.phone"), { maxlength: 20 });
    card.append(
      h("div", { class: "row" }, h("label", {}, t("household.language"), lang), gridLabel, keyLabel, noteLabel, awayLabel, h("button", { class: "primary", onclick: save }, t("household.save"))),
      h("div", { class: "row" }, nameLabel, phoneLabel, h("button", { onclick: () => act(() => api("POST", `/api/register/households/${id}/residents`, { json: { name: name.value, phone: phone.value.trim() || null } }), () => openHousehold(id, detail, refresh)) }, t("resident.add"))),
      h(
        "div",
        { class: "row" },
        h("label", {}, t("household.move_to"), group),
        h("button", { onclick: () => act(() => api("POST", `/api/register/households/${id}/group`, { json: { group_id: Number(group.value) } }), async () => ((state.groups = await api("GET", "/api/register/groups")), refresh(), openHousehold(id, detail, refresh))) }, t("household.move")),
        hh.group_id && !hh.leader
          ? h("button", { onclick: () => act(() => api("PUT", `/api/register/groups/${hh.group_id}/leader`, { json: { household_id: id } }), refresh) }, t("household.make_leader"))
          : null,
        h(
          "button",
          {
            class: "danger",
            id: "move-out",
            onclick: () => {
              if (!window.confirm(t("household.move_out.confirm", { address: hh.address }))) return;
              act(() => api("DELETE", `/api/register/households/${id}`), () => (fill(detail), refresh()));
            },
          },
          t("household.move_out"),
        ),
      ),
    );
  }
  card.append(close);
  fill(detail, card);
}

function moveInCard(refresh) {
  const [addressLabel, address] = field(t("move_in.address"), { maxlength: 40, id: "move-in-address" });
  const [nameLabel, name] = field(t("move_in.name"), { maxlength: 100, id: "move-in-name" });
  const [phoneLabel, phone] = field(t("move_in.phone"), { maxlength: 20, id: "move-in-phone" });
  const [gridLabel, grid] = field(t("household.grid"), { maxlength: 50 });
  const lang = languageSelect("zh");
  const submit = () =>
    act(
      () =>
        api("POST", "/api/register/households", {
          json: {
            address: address.value.trim(),
            residents: [{ name: name.value.trim(), phone: phone.value.trim() || null }],
            grid: grid.value.trim() || null,
            language: lang.value,
          },
        }),
      async () => {
        state.q = address.value.trim();
        address.value = name.value = phone.value = "";
        await refresh();
      },
    );
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("move_in.title")),
    h("div", { class: "row" }, addressLabel, nameLabel, phoneLabel, gridLabel, h("label", {}, t("household.language"), lang), h("button", { class: "primary", id: "move-in", onclick: submit }, t("move_in.submit"))),
  );
}

// -- staff -----------------------------------------------------------------------------------

async function staff() {
  const people = await api("GET", "/api/register/staff");
  const [nameLabel, name] = field(t("staff.name"), { maxlength: 100 });
  const [phoneLabel, phone] = field(t("staff.phone"), { maxlength: 20 });
  const [gridLabel, grid] = field(t("staff.grid"), { maxlength: 50 });
  const role = h("select", {}, STAFF_ROLES.map((r) => h("option", { value: r }, r)));
  const lang = languageSelect("zh");
  const rows = people.map((p) => {
    const pl = languageSelect(p.language);
    const pr = h("select", {}, STAFF_ROLES.map((r) => h("option", { value: r, selected: r === p.role }, r)));
    return h(
      "tr",
      {},
      h("td", {}, p.name),
      h("td", {}, p.phone),
      h("td", {}, pr),
      h("td", {}, p.grid || "—"),
      h("td", {}, pl),
      h(
        "td",
        {},
        h("button", { onclick: () => act(() => api("PATCH", `/api/register/staff/${p.id}`, { json: { role: pr.value, language: pl.value } }), staff) }, t("household.save")),
        " ",
        h("button", { class: "danger", onclick: () => act(() => api("DELETE", `/api/register/staff/${p.id}`), staff) }, t("staff.remove")),
      ),
    );
  });
  fill(
    main(),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("staff.title")),
      h("table", {}, h("tbody", {}, rows)),
      h("div", { class: "row" }, nameLabel, phoneLabel, h("label", {}, t("staff.role"), role), gridLabel, lang, h("button", { class: "primary", onclick: () => act(() => api("POST", "/api/register/staff", { json: { name: name.value, phone: phone.value, role: role.value, grid: grid.value.trim() || null, language: lang.value } }), staff) }, t("staff.add"))),
    ),
  );
}

// -- roster ----------------------------------------------------------------------------------

async function roster() {
  const [data, people] = await Promise.all([api("GET", "/api/register/roster"), api("GET", "/api/register/staff")]);
  const who = h("select", {}, people.map((p) => h("option", { value: p.id }, `${p.name} (${p.role})`)));
  const [daysLabel, days] = field(t("roster.days"), { value: "mon-fri", maxlength: 40 });
  const [startsLabel, starts] = field(t("roster.starts"), { value: "08:00", maxlength: 5 });
  const [endsLabel, ends] = field(t("roster.ends"), { value: "20:00", maxlength: 5 });
  fill(
    main(),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("roster.title")),
      h("table", {}, h("tbody", {}, data.shifts.map((s) => h("tr", {}, h("td", {}, s.staff), h("td", {}, s.day), h("td", {}, `${s.starts}–${s.ends}`), h("td", {}, h("button", { onclick: () => act(() => api("DELETE", `/api/register/roster/shifts/${s.id}`), roster) }, t("roster.delete"))))))),
      h("div", { class: "row" }, h("label", {}, t("roster.staff"), who), daysLabel, startsLabel, endsLabel, h("button", { class: "primary", onclick: () => act(() => api("POST", "/api/register/roster/shifts", { json: { staff_id: Number(who.value), days: days.value, starts: starts.value, ends: ends.value } }), roster) }, t("roster.add"))),
      h("h2", {}, t("roster.overrides")),
      h("table", {}, h("tbody", {}, data.overrides.map((o) => h("tr", {}, h("td", {}, o.staff), h("td", {}, `${new Date(o.starts_at).toLocaleString()} – ${new Date(o.ends_at).toLocaleString()}`), h("td", {}, o.on_duty ? "on" : "off"), h("td", {}, h("button", { onclick: () => act(() => api("DELETE", `/api/register/roster/overrides/${o.id}`), roster) }, t("roster.delete"))))))),
    ),
  );
}

// -- policy and alarm numbers ----------------------------------------------------------------

async function policy() {
  const current = await api("GET", "/api/policy");
  const inputs = Object.entries(current).map(([name, value]) => field(name, { type: "number", value, min: 0, max: 86400, name }));
  const save = () => act(() => api("PUT", "/api/policy", { json: Object.fromEntries(inputs.map(([, i]) => [i.name, Number(i.value)])) }), policy);
  fill(main(), h("section", { class: "card" }, h("h2", {}, t("policy.title")), h("div", { class: "row" }, inputs.map(([label]) => label), h("button", { class: "primary", onclick: save }, t("policy.save")))));
}

async function numbers() {
  const [list, groups] = await Promise.all([api("GET", "/api/register/alarm-numbers"), api("GET", "/api/register/groups")]);
  const [numberLabel, number] = field(t("numbers.number"), { maxlength: 20 });
  const group = h("select", {}, h("option", { value: "" }, t("numbers.all")), groups.map((g) => h("option", { value: g.id }, g.name)));
  fill(
    main(),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("numbers.title")),
      h("table", {}, h("tbody", {}, list.map((n) => h("tr", {}, h("td", {}, n.number), h("td", {}, n.group || t("numbers.all")), h("td", {}, h("button", { onclick: () => act(() => api("DELETE", `/api/register/alarm-numbers/${n.id}`), numbers) }, t("numbers.remove"))))))),
      h("div", { class: "row" }, numberLabel, h("label", {}, t("numbers.group"), group), h("button", { class: "primary", onclick: () => act(() => api("POST", "/api/register/alarm-numbers", { json: { number: number.value, group_id: group.value ? Number(group.value) : null } }), numbers) }, t("numbers.add"))),
    ),
  );
}

// -- import and export -----------------------------------------------------------------------

function importer() {
  const file = h("input", { type: "file", accept: ".csv,text/csv", id: "import-file" });
  const bar = h("progress", { max: 100, value: 0, hidden: true, id: "import-progress" });
  const result = h("div", { id: "import-result" });
  const send = async () => {
    if (!file.files.length) return;
    bar.hidden = false;
    bar.value = 0;
    fill(result, h("p", {}, t("import.sending", { p: 0 })));
    try {
      const report = await upload("/api/register/import", file.files[0], {
        onProgress: (done, total) => {
          bar.value = Math.round((100 * done) / total);
          fill(result, h("p", {}, done < total ? t("import.sending", { p: bar.value }) : t("import.checking")));
        },
      });
      bar.value = 100;
      fill(result, h("p", { class: "ok" }, t("import.done", report)), report.notes.length ? h("p", { class: "notes" }, t("notes") + report.notes.join("; ")) : null);
      say(t("saved"));
    } catch (error) {
      bar.hidden = true;
      const errors = (error.body && error.body.errors) || [];
      fill(
        result,
        h("p", { class: "errors" }, errors.length ? t("import.refused") : error.message),
        h("ul", { class: "errors" }, errors.map((e) => h("li", { dataset: { row: e.row } }, `${t("import.row", { row: e.row })}: ${e.reason}`))),
      );
      say(error.message, "error");
    }
  };
  fill(
    main(),
    h("section", { class: "card" }, h("h2", {}, t("import.title")), h("div", { class: "row" }, h("label", {}, t("import.choose"), file), h("button", { class: "primary", id: "import", onclick: send }, t("import.submit")), bar), result),
    h("section", { class: "card" }, h("h2", {}, t("export.title")), h("a", { href: "/api/register/export.csv", download: "register.csv" }, h("button", { type: "button" }, t("export.button")))),
  );
}

// -- the audit log ---------------------------------------------------------------------------

async function auditLog() {
  const [sinceLabel, since] = field(t("audit.since"), { type: "date" });
  const [untilLabel, until] = field(t("audit.until"), { type: "date" });
  const [subjectLabel, subject] = field(t("audit.subject"), { maxlength: 100 });
  const table = h("div", { id: "audit" });
  const query = () => {
    const params = new URLSearchParams();
    if (since.value) params.set("since", since.value);
    if (until.value) params.set("until", until.value);
    if (subject.value.trim()) params.set("subject", subject.value.trim());
    return params;
  };
  const show = async () => {
    const params = query();
    params.set("limit", "100");
    const page = await api("GET", "/api/register/audit?" + params);
    const json = (v) => (v === null || v === undefined ? "" : JSON.stringify(v));
    fill(
      table,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, [t("audit.at"), t("audit.actor"), t("audit.action"), t("audit.subject"), t("audit.before"), t("audit.after")].map((x) => h("th", {}, x)))),
        h(
          "tbody",
          {},
          page.entries.map((e) =>
            h("tr", { dataset: { action: e.action } }, h("td", {}, new Date(e.at).toLocaleString()), h("td", {}, e.actor), h("td", {}, e.action, e.note ? h("div", { class: "notes" }, e.note) : null), h("td", {}, e.subject), h("td", { class: "json" }, json(e.before)), h("td", { class: "json" }, json(e.after))),
          ),
        ),
      ),
    );
  };
  const csv = h("a", { href: "/api/register/audit.csv", download: "audit.csv" }, h("button", { type: "button" }, t("audit.csv")));
  const filter = async () => {
    csv.href = "/api/register/audit.csv?" + query();
    await show();
  };
  fill(main(), h("section", { class: "card" }, h("h2", {}, t("audit.title")), h("div", { class: "row" }, sinceLabel, untilLabel, subjectLabel, h("button", { class: "primary", onclick: filter }, t("audit.filter")), csv), table));
  await show();
}

// -- the frame -------------------------------------------------------------------------------

const SHOW = { households, staff, roster, policy, numbers, import: importer, audit: auditLog };

async function go(section) {
  state.section = section;
  for (const b of document.querySelectorAll("#nav button")) b.toggleAttribute("aria-current", b.dataset.section === section);
  for (const b of document.querySelectorAll("#nav button")) if (b.dataset.section === section) b.setAttribute("aria-current", "page");
  say("");
  try {
    await SHOW[section]();
  } catch (error) {
    say(error.message, "error");
  }
}

function frame() {
  document.title = t("register.title");
  $("#title").textContent = t("register.title");
  $("#lang").textContent = t("lang.switch");
  $("#who").textContent = state.me ? state.me.name : "";
  const nav = $("#nav");
  const allowed = state.admin ? SECTIONS : ["households"];
  fill(nav, allowed.map((s) => h("button", { type: "button", dataset: { section: s }, onclick: () => go(s) }, t("nav." + s))));
  nav.hidden = false;
}

async function start() {
  await words.load();
  $("#lang").addEventListener("click", async () => {
    await words.toggle();
    frame();
    await go(state.section);
  });
  try {
    state.me = await api("GET", "/api/me");
  } catch (error) {
    say(error.message, "error");
    return;
  }
  state.admin = state.me.kind === "staff" && state.me.role === "admin";
  frame();
  try {
    await showConsent($("#consent"));
  } catch (error) {
    say(error.message, "error");
  }
  await go("households");
}

start();
