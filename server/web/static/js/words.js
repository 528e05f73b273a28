// Every label of the pages, in Chinese and English; the person's language comes from the
// service (GET /api/me/language), and a visible switch changes it (PUT, so texts follow).

import { api } from "./api.js";

export const WORDS = {
  zh: {
    "app.title": "十户联防 · 登记造册",
    "lang.switch": "English",
    "nav.households": "住户",
    "nav.staff": "工作人员",
    "nav.roster": "值班表",
    "nav.policy": "升级策略",
    "nav.numbers": "报警号码",
    "nav.import": "导入导出",
    "nav.audit": "操作记录",
    "search.placeholder": "地址、姓名或手机号",
    "search.button": "查找",
    "households.count": "共 {n} 户",
    "households.more": "下一页",
    "households.prev": "上一页",
    "household.address": "地址",
    "household.group": "联防组",
    "household.grid": "网格",
    "household.language": "语言",
    "household.residents": "住户成员",
    "household.leader": "组长户",
    "household.open": "查看",
    "household.spare_key_holder": "备用钥匙保管人",
    "household.care_note": "行动或病情提示",
    "household.away_until": "外出至",
    "household.save": "保存",
    "household.move_out": "迁出",
    "household.move_out.confirm": "确定将 {address} 迁出？其住户和登记将被删除。",
    "household.move_to": "调到联防组",
    "household.move": "调组",
    "household.make_leader": "设为组长户",
    "household.close": "关闭",
    "move_in.title": "迁入新住户",
    "move_in.address": "地址（如 B11-1-301）",
    "move_in.name": "姓名",
    "move_in.phone": "手机号（+86…）",
    "move_in.submit": "迁入",
    "resident.add": "添加成员",
    "resident.remove": "移除",
    "resident.roles": "角色",
    "staff.title": "工作人员",
    "staff.name": "姓名",
    "staff.phone": "手机号",
    "staff.role": "角色",
    "staff.grid": "网格",
    "staff.add": "添加",
    "staff.remove": "删除",
    "roster.title": "值班表",
    "roster.staff": "人员",
    "roster.days": "星期（如 mon-fri）",
    "roster.starts": "开始（08:00）",
    "roster.ends": "结束（20:00）",
    "roster.add": "添加班次",
    "roster.delete": "删除",
    "roster.overrides": "临时调整",
    "policy.title": "升级策略（秒）",
    "policy.save": "保存策略",
    "numbers.title": "报警号码",
    "numbers.number": "号码（+86…）",
    "numbers.group": "联防组（空为全社区）",
    "numbers.all": "全社区",
    "numbers.add": "添加号码",
    "numbers.remove": "删除",
    "import.title": "导入登记表（CSV，UTF-8）",
    "import.choose": "选择文件",
    "import.submit": "导入",
    "import.sending": "上传中 {p}%",
    "import.checking": "正在检查每一行…",
    "import.done": "已导入 {households} 户、{residents} 人、{staff} 名工作人员，新建 {groups} 个组。",
    "import.refused": "未导入任何内容：",
    "import.row": "第 {row} 行",
    "export.title": "导出登记表",
    "export.button": "下载 CSV",
    "audit.title": "操作记录",
    "audit.since": "从",
    "audit.until": "到",
    "audit.subject": "对象",
    "audit.filter": "筛选",
    "audit.csv": "导出 CSV",
    "audit.at": "时间",
    "audit.actor": "操作人",
    "audit.action": "操作",
    "audit.before": "之前",
    "audit.after": "之后",
    "saved": "已保存",
    "notes": "注意：",
    "leader.readonly": "您是组长：可以查看本组名册，不能修改。",
    "consent.agree": "我已了解并同意",
  },
  en: {
    "app.title": "TenWatch · Register",
    "lang.switch": "中文",
    "nav.households": "Households",
    "nav.staff": "Staff",
    "nav.roster": "Roster",
    "nav.policy": "Policy",
    "nav.numbers": "Alarm numbers",
    "nav.import": "Import / export",
    "nav.audit": "Audit log",
    "search.placeholder": "Address, name or phone",
    "search.button": "Search",
    "households.count": "{n} households",
    "households.more": "Next page",
    "households.prev": "Previous page",
    "household.address": "Address",
    "household.group": "Group",
    "household.grid": "Grid",
    "household.language": "Language",
    "household.residents": "Residents",
    "household.leader": "Leader household",
    "household.open": "Open",
    "household.spare_key_holder": "Spare key holder",
    "household.care_note": "Mobility or medical note",
    "household.away_until": "Away until",
    "household.save": "Save",
    "household.move_out": "Move out",
    "household.move_out.confirm": "Move {address} out? Its residents and entry are removed.",
    "household.move_to": "Move to group",
    "household.move": "Move",
    "household.make_leader": "Make leader household",
    "household.close": "Close",
    "move_in.title": "Move a household in",
    "move_in.address": "Address (like B11-1-301)",
    "move_in.name": "Name",
    "move_in.phone": "Phone (+86…)",
    "move_in.submit": "Move in",
    "resident.add": "Add resident",
    "resident.remove": "Remove",
    "resident.roles": "Roles",
    "staff.title": "Staff",
    "staff.name": "Name",
    "staff.phone": "Phone",
    "staff.role": "Role",
    "staff.grid": "Grid",
    "staff.add": "Add",
    "staff.remove": "Remove",
    "roster.title": "Duty roster",
    "roster.staff": "Staff",
    "roster.days": "Days (like mon-fri)",
    "roster.starts": "Starts (08:00)",
    "roster.ends": "Ends (20:00)",
    "roster.add": "Add shift",
    "roster.delete": "Delete",
    "roster.overrides": "Overrides",
    "policy.title": "Escalation policy (seconds)",
    "policy.save": "Save policy",
    "numbers.title": "Alarm numbers",
    "numbers.number": "Number (+86…)",
    "numbers.group": "Group (empty: whole community)",
    "numbers.all": "Whole community",
    "numbers.add": "Add number",
    "numbers.remove": "Remove",
    "import.title": "Import a register (CSV, UTF-8)",
    "import.choose": "Choose file",
    "import.submit": "Import",
    "import.sending": "Uploading {p}%",
    "import.checking": "Checking every row…",
    "import.done": "Imported {households} households, {residents} residents, {staff} staff; {groups} new groups.",
    "import.refused": "Nothing was imported: ",
    "import.row": "Row {row}",
    "export.title": "Export the register",
    "export.button": "Download CSV",
    "audit.title": "Audit log",
    "audit.since": "From",
    "audit.until": "To",
    "audit.subject": "Subject",
    "audit.filter": "Filter",
    "audit.csv": "Export CSV",
    "audit.at": "When",
    "audit.actor": "Who",
    "audit.action": "Action",
    "audit.before": "Before",
    "audit.after": "After",
    "saved": "Saved",
    "notes": "Note: ",
    "leader.readonly": "You lead your group: you can read its register, not change it.",
    "consent.agree": "I understand and agree",
  },
};

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
