// The campaigns page: robocall campaigns with live progress, editing, target import, start/pause/resume/stop, the
// follow-up list (人工补漏) and the do-not-call list. Every request goes to /api/campaigns on this page's own
// origin with the staff token (common.js); the routes and error shapes are gateway/campaigns_api.py's.
import { api, el, token } from "/staff/common.js";
import { editor } from "/staff/campaigns-edit.js";

// "Every few seconds": progress moves with each call, and one page's polling is a few small reads.
const REFRESH_MS = 3000;
// A downloaded blob stays readable this long after the click (the browser fetches it asynchronously).
const BLOB_KEEP_MS = 60000;
const STAFF_NAME_KEY = "govbot.staffName";  // the name kb.html signs edits with: the default "处理人" here
const BASE = "/api/campaigns";

// Mirrors campaigns/states.py: which action each campaign state allows (a stopped campaign is not edited either).
const ACTIONS_BY_STATE = { draft: ["start", "stop"], running: ["pause", "stop"], paused: ["resume", "stop"], stopped: [] };
const ACTION_DONE = { start: "已启动", pause: "已暂停", resume: "已恢复", stop: "已结束" };
const CATEGORY_LABELS = { abnormal: "异常", unreached: "未接通" };
// The kinds of campaigns/kinds/ (the API has no list of them; a new kind module needs a line here).
const KIND_LABELS = { health_check: "居家健康监测", satisfaction_callback: "办结满意度回访", notice: "语音通知" };

// The spec's field paths (campaigns/validation.py) → the create form's error slot; others go under the form.
const CREATE_FIELDS = [
  [/^name$/, "name"], [/^kind$/, "kind"], [/^opening$/, "opening"], [/^schedule\.window/, "window"],
  [/^schedule(\.times.*)?$/, "times"], [/^(attempts|retry(\..*)?)$/, "attempts"], [/^max_channels$/, "max_channels"],
];

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
let selected = null;  // the id of the campaign shown in the detail panel
let selectedName = "";  // its name, for the downloaded files' names
let reportDay = "";  // the day the report shows (the API's default is today in the campaign's zone)
let pendingFile = null;  // the file whose rows had errors, kept for "只导入有效行"
let refreshing = false;
let refreshFailed = false;  // the automatic refresh clears only an error it showed itself

function showError(err) { $("error").textContent = err ? `出错：${err.message || err}` : ""; }
function notice(text) { $("notice").textContent = text; }
const time = (v) => (v ? String(v).slice(0, 16).replace("T", " ") : "—");

async function guarded(work) {
  showError(null);
  try { await work(); } catch (err) { showError(err); }
}

// ---- progress ------------------------------------------------------------------------------------------

// The figures operators watch: the API's exact counts (campaigns/store/report.py live_counts), in table order.
const SUMMARY_LABELS = { placed: "已拨打（次）", answered: "已接通（次）", completed: "已完成", abnormal: "异常", unreachable: "未接通", retrying: "等待重拨" };

function campaignWithProgress(row) { return api(`${BASE}/${row.id}`); }

function stateBadge(item) {
  return el("span", { class: `badge state-${item.state}` }, item.state_label || item.state);
}

async function loadCampaigns() {
  const { campaigns } = await api(BASE);
  const rows = await Promise.all(campaigns.map(campaignWithProgress));
  $("campaigns").replaceChildren(...(rows.length ? rows.map((c) => el("tr",
    { "data-id": c.id, class: c.id === selected ? "selected" : "", onclick: () => guarded(() => select(c.id)) },
    el("td", {}, c.name), el("td", {}, c.kind_label), el("td", {}, stateBadge(c)), el("td", { class: "num" }, c.targets),
    ...Object.keys(SUMMARY_LABELS).map((key) => el("td", { class: `num ${key}` }, c.counts[key]))))
    : [el("tr", {}, el("td", { colspan: "10", class: "muted" }, "还没有外呼活动，请在下方新建"))]));
  const current = rows.find((c) => c.id === selected);
  if (current) showDetail(current);
}

// ---- one campaign --------------------------------------------------------------------------------------

function describe(spec) {
  const schedule = spec.schedule || {};
  return `每日 ${(schedule.times || []).join("、")} · 呼叫时段 ${(schedule.window || []).join("–")} · `
    + `每时段最多 ${spec.retry ? spec.retry.attempts : "—"} 次 · 并发 ${spec.max_channels} 路`;
}

function showDetail(c) {
  $("detail").hidden = false;
  selectedName = c.name;
  $("detail-title").textContent = `${c.name} · ${c.kind_label}`;
  $("detail-state").textContent = c.state_label;
  $("detail-state").className = `badge state-${c.state}`;
  $("detail-spec").textContent = `${describe(c.spec)} · 名单 ${c.targets} 人`;
  const allowed = ACTIONS_BY_STATE[c.state] || [];
  for (const button of document.querySelectorAll("#actions button[data-action]")) button.hidden = !allowed.includes(button.dataset.action);
  $("edit-open").hidden = c.state === "stopped";
  if (c.state === "stopped") edit.close();
  const card = (label, value, cls) => el("div", { class: `card ${cls}` }, el("b", {}, value), label);
  $("progress").replaceChildren(
    ...Object.entries(SUMMARY_LABELS).map(([key, label]) => card(label, c.counts[key], key)),
    card("通话中", c.counts.on_line, "on_line"), card("待拨打", c.progress.pending || 0, "pending"));
}

async function select(id) {
  if (id !== selected) {
    selected = id;
    pendingFile = null;
    $("import-result").textContent = "";
    $("import-errors-table").hidden = true;
    $("import-valid").hidden = true;
    edit.close();
  }
  await Promise.all([loadCampaigns(), loadFollowups(), loadReport()]);
}

async function act(action) {
  const row = await api(`${BASE}/${selected}/${action}`, { method: "POST" });
  notice(`活动“${row.name}”${ACTION_DONE[action]}`);
  await loadCampaigns();
}

// ---- the daily report (campaigns/store/report.py) ----------------------------------------------------

// The report's counts with the headers of its CSV (campaigns/export.py), in the same order.
const REPORT_COLUMNS = [["slots", "时段数"], ["residents", "人数"], ["reached", "已接通"], ["normal", "正常"],
  ["abnormal", "异常"], ["unreachable", "未接通"], ["opted_out", "免打扰"], ["not_called", "未拨打"],
  ["wrong_person", "非本人"], ["refused", "拒答"], ["cancelled", "已取消"], ["in_progress", "进行中"]];

function reportQuery(format) {
  const params = new URLSearchParams();
  if ($("report-day").value) params.set("day", $("report-day").value);  // empty: today in the campaign's zone
  if (format) params.set("format", format);
  return `${BASE}/${selected}/report?${params}`;
}

async function loadReport() {
  if (selected === null) return;
  const report = await api(reportQuery());
  reportDay = report.day;
  $("report-meta").textContent = `${report.day}（${report.timezone}）`;
  const line = (community, grid, counts, cls = "") => el("tr", { class: cls }, el("td", {}, community), el("td", {}, grid),
    ...REPORT_COLUMNS.map(([key]) => el("td", { class: `num ${key}` }, counts[key])));
  const rows = [];
  for (const community of report.communities) {
    const name = community.community || "未填写";
    for (const grid of community.grids) rows.push(line(name, grid.grid || "未填写", grid));
    rows.push(line(name, "小计", community, "subtotal"));
  }
  $("report").replaceChildren(...(report.totals.slots ? [...rows, line("合计", "", report.totals, "subtotal total")]
    : [el("tr", {}, el("td", { colspan: String(REPORT_COLUMNS.length + 2), class: "muted" }, "当天没有呼叫时段"))]));
}

// ---- target import -------------------------------------------------------------------------------------

async function upload(file, validOnly) {
  const form = new FormData();
  form.append("file", file, file.name);
  const query = validOnly ? "?valid_only=1" : "";
  try {
    const report = await api(`${BASE}/${selected}/targets${query}`, { method: "POST", body: form });
    showImport(report, null);
    pendingFile = null;
    await loadCampaigns();
  } catch (err) {
    if (err.code !== "invalid_rows") throw err;
    pendingFile = file;
    showImport(err.body.report, err.message);
  }
}

function showImport(report, refusal) {
  const parts = [`共 ${report.rows} 行，有效 ${report.valid} 行，错误 ${report.error_count} 处`];
  if (report.imported) parts.push(`已导入 ${report.imported} 行`);
  else if (refusal) parts.push("未导入任何行");
  if (report.ignored_columns.length) parts.push(`未识别的列：${report.ignored_columns.join("、")}`);
  $("import-result").textContent = parts.join("；");
  $("import-result").className = refusal ? "error" : "ok";
  $("import-errors-table").hidden = !report.errors.length;
  $("import-errors").replaceChildren(...report.errors.map((e) => el("tr", {},
    el("td", {}, e.row), el("td", {}, e.field), el("td", {}, e.message))));
  $("import-valid").hidden = !(refusal && report.valid > 0);
  $("import-valid").textContent = `只导入有效行（${report.valid} 行）`;
}

async function importChosen() {
  const file = $("import-file").files[0];
  if (!file) throw new Error("请先选择名单文件（CSV 或 XLSX）");
  await upload(file, false);
}

// ---- follow-ups (人工补漏) -------------------------------------------------------------------------------

function followupQuery(format) {
  const params = new URLSearchParams();
  if ($("followup-all").checked) params.set("all", "1");
  if (format) params.set("format", format);
  return `${BASE}/${selected}/followups?${params}`;
}

/** A note being typed is not wiped by the automatic refresh. */
function editingFollowups() {
  const box = $("followups");
  return box.contains(document.activeElement) || [...box.querySelectorAll("input")].some((input) => input.value);
}

async function loadFollowups() {
  if (selected === null) return;
  const { followups } = await api(followupQuery());
  $("followup-count").textContent = `共 ${followups.length} 人`;
  $("followups").replaceChildren(...(followups.length ? followups.map(followupRow)
    : [el("tr", {}, el("td", { colspan: "10", class: "muted" }, "暂无需要人工补漏的居民"))]));
}

function followupRow(item) {
  const note = el("input", { size: "10", placeholder: "备注（可空）" });
  const handled = item.follow_up_done_at
    ? el("span", { class: "muted" }, `${item.follow_up_done_by} 已处理 ${time(item.follow_up_done_at)} ${item.follow_up_note || ""}`)
    : el("span", {}, note, " ", el("button", { class: "done", onclick: () => guarded(() => markDone(item.slot_id, note.value)) }, "标记已处理"));
  return el("tr", { "data-slot": item.slot_id },
    el("td", {}, item.day), el("td", {}, item.time), el("td", {}, item.name), el("td", {}, item.phone_display),
    el("td", {}, item.address), el("td", {}, [item.community, item.grid].filter(Boolean).join(" / ")),
    el("td", {}, el("span", { class: `badge ${item.category}` }, CATEGORY_LABELS[item.category] || item.category)),
    el("td", {}, item.reason), el("td", { class: "num" }, item.attempts_used), el("td", {}, handled));
}

async function markDone(slotId, note) {
  $("err-by").textContent = "";
  const by = $("followup-by").value.trim();
  if (!by) { $("err-by").textContent = "请填写处理人（您的姓名）"; return; }  // the API's "缺少字段 by" is for programs
  localStorage.setItem(STAFF_NAME_KEY, by);
  try {
    await api(`${BASE}/followups/${slotId}/done`, { method: "POST", json: { by, note } });
  } catch (err) {
    if (err.field === "by") { $("err-by").textContent = err.body.error.message; return; }
    throw err;
  }
  notice("已标记为已处理");
  await Promise.all([loadFollowups(), loadCampaigns(), loadReport()]);
}

/** A CSV download: fetched with the staff token (a plain link could not send it), saved from a blob. */
async function download(path, filename) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new Error(`导出失败（${response.status}）`);
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), BLOB_KEEP_MS);
}

// ---- creating a campaign -------------------------------------------------------------------------------

function clearErrors(form) { for (const slot of form.querySelectorAll(".field-error")) slot.textContent = ""; }

function integer(value) { return value.trim() === "" ? undefined : Number(value); }

function specFromForm(form) {
  const f = form.elements;
  const spec = {
    name: f.name.value, kind: f.kind.value,
    schedule: { times: f.times.value.split(/[,，、\s]+/).filter(Boolean), window: [f.window_start.value, f.window_end.value] },
  };
  const attempts = integer(f.attempts.value);
  if (attempts !== undefined) spec.retry = { attempts };
  const channels = integer(f.max_channels.value);
  if (channels !== undefined) spec.max_channels = channels;
  if (f.opening.value.trim()) spec.opening = f.opening.value;
  return spec;
}

async function createCampaign(event) {
  event.preventDefault();
  const form = $("create-form");
  clearErrors(form);
  let row;
  try {
    row = await api(BASE, { method: "POST", json: specFromForm(form) });
  } catch (err) {
    const path = err.field || "";
    const match = CREATE_FIELDS.find(([pattern]) => pattern.test(path));
    const slot = $(`err-${match ? match[1] : "form"}`);
    slot.textContent = err.body && err.body.error ? err.body.error.message + (match ? "" : `（${path}）`) : err.message;
    return;
  }
  notice(`已创建活动“${row.name}”（草稿）：请导入名单后启动`);
  form.elements.name.value = "";
  await select(row.id);
}

// ---- do-not-call ---------------------------------------------------------------------------------------

async function loadDnc() {
  const { dnc } = await api(`${BASE}/dnc`);
  $("dnc").replaceChildren(...(dnc.length ? dnc.map((item) => el("tr", { "data-phone": item.phone },
    el("td", {}, KIND_LABELS[item.kind] || item.kind), el("td", {}, item.phone_display), el("td", {}, item.reason),
    el("td", {}, item.added_by), el("td", {}, time(item.added_at)),
    el("td", {}, el("button", { class: "remove", onclick: () => guarded(() => removeDnc(item)) }, "移除"))))
    : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, "免打扰名单为空"))]));
}

async function addDnc(event) {
  event.preventDefault();
  const form = $("dnc-form");
  clearErrors(form);
  const f = form.elements;
  const body = { kind: f.kind.value, phone: f.phone.value, reason: f.reason.value,
    by: localStorage.getItem(STAFF_NAME_KEY) || "staff" };
  let result;
  try {
    result = await api(`${BASE}/dnc`, { method: "POST", json: body });
  } catch (err) {
    const slot = err.field && $(`err-dnc-${err.field}`);
    if (!slot) throw err;
    slot.textContent = err.body.error.message;
    return;
  }
  notice(result.added ? "已加入免打扰名单" : "该号码已在免打扰名单中");
  f.phone.value = "";
  f.reason.value = "";
  await Promise.all([loadDnc(), loadCampaigns()]);
}

async function removeDnc(item) {
  await api(`${BASE}/dnc/${enc(item.kind)}/${enc(item.phone)}`, { method: "DELETE" });
  notice(`已将 ${item.phone_display} 移出免打扰名单`);
  await loadDnc();
}

// ---- wiring --------------------------------------------------------------------------------------------

async function refresh() {
  if (refreshing) return;  // a slow store: the next tick comes after this one finished
  refreshing = true;
  try {
    await Promise.all([loadCampaigns(), loadReport(), editingFollowups() ? null : loadFollowups()]);
    if (refreshFailed) showError(null);
    refreshFailed = false;
  } catch (err) {
    showError(err);
    refreshFailed = true;
  } finally { refreshing = false; }
}

for (const button of document.querySelectorAll("#actions button[data-action]")) {
  button.addEventListener("click", () => guarded(() => act(button.dataset.action)));
}
$("import-go").addEventListener("click", () => guarded(importChosen));
$("import-valid").addEventListener("click", () => guarded(() => upload(pendingFile, true)));
$("import-file").addEventListener("change", () => { pendingFile = null; $("import-valid").hidden = true; });
$("followup-all").addEventListener("change", () => guarded(loadFollowups));
$("followup-export").addEventListener("click", () => guarded(() => download(followupQuery("csv"), `人工补漏-${selectedName}.csv`)));
$("report-export").addEventListener("click", () => guarded(() => download(reportQuery("csv"), `日报-${selectedName}-${reportDay}.csv`)));
$("report-day").addEventListener("change", () => guarded(loadReport));
$("report-head").replaceChildren(el("th", {}, "社区"), el("th", {}, "网格"), ...REPORT_COLUMNS.map(([, label]) => el("th", {}, label)));
for (const select of document.querySelectorAll("select.kinds")) {
  select.replaceChildren(...Object.entries(KIND_LABELS).map(([value, label]) => el("option", { value }, label)));
}
$("followup-by").value = localStorage.getItem(STAFF_NAME_KEY) || "";
$("create-form").addEventListener("submit", (e) => guarded(() => createCampaign(e)));
const edit = editor({ base: BASE, campaign: () => selected, clearErrors, notice, saved: () => loadCampaigns() });
$("edit-open").addEventListener("click", () => guarded(edit.open));
$("edit-cancel").addEventListener("click", edit.close);
$("edit-form").addEventListener("submit", (e) => guarded(() => edit.save(e)));
$("dnc-form").addEventListener("submit", (e) => guarded(() => addDnc(e)));

guarded(() => Promise.all([loadCampaigns(), loadDnc()]));
setInterval(refresh, REFRESH_MS);
