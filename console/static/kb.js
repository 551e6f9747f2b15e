// The curators' page: entries (list, filter, edit with preview, publish, history with diff and restore),
// the unanswered-questions list (two clicks: a new entry, or an "also answers" wording of an existing one),
// why an answer was or was not given (score, margin, lead, the gate's confidence, the verifier's reason), import and export.
// All text reaches the page through el()/textContent: answers are shown exactly as typed, never as HTML.
import { api, el, setToken, token } from "/staff/common.js";

const $ = (id) => document.getElementById(id);
const AUTHOR_KEY = "govbot.staffName";
const STATUS_NAMES = { published: "已发布", draft: "草稿", archived: "已归档" };
const ACTION_NAMES = { create: "新建", update: "修改", publish: "发布", archive: "归档", draft: "转为草稿",
  restore: "恢复", import: "导入", also_answers: "加入居民问法" };
const OUTCOME_NAMES = { answer: "直接回答", clarify: "请居民确认", none: "没有答案" };
const VERDICT_NAMES = { pass: "一致", clarify: "存疑", decline: "不是同一件事" };
const enc = encodeURIComponent;

let current = null;          // the entry open in the editor (null: a new one)
let pendingUnanswered = [];  // log ids to mark resolved once the new entry is saved

const author = () => localStorage.getItem(AUTHOR_KEY) || "";
const when = (v) => (v ? v.slice(0, 16).replace("T", " ") : "");
function showError(err) { $("error").textContent = err ? `出错：${err.message || err}` : ""; }
function notice(text) { $("notice").textContent = text; if (text) setTimeout(() => { if ($("notice").textContent === text) $("notice").textContent = ""; }, 4000); }
function statusBadge(status) { return el("span", { class: `status status-${status}` }, STATUS_NAMES[status] || status); }

async function guarded(fn) {
  showError(null);
  try { return await fn(); } catch (err) { showError(err); return undefined; }
}

// ---- entries -------------------------------------------------------------------------------

async function loadCategories() {
  const { categories } = await api("/api/kb/categories");
  $("filter-category").replaceChildren(el("option", { value: "" }, "全部"),
    ...categories.map((c) => el("option", { value: c }, c)));
  $("category-list").replaceChildren(...categories.map((c) => el("option", { value: c })));
}

async function loadEntries() {
  const params = new URLSearchParams();
  if ($("filter-status").value) params.set("status", $("filter-status").value);
  if ($("filter-category").value) params.set("category", $("filter-category").value);
  if ($("filter-text").value.trim()) params.set("q", $("filter-text").value.trim());
  const { entries, count } = await api(`/api/kb/entries?${params}`);
  $("count").textContent = `共 ${count} 条`;
  $("entries").replaceChildren(...entries.map((e) => {
    const row = el("tr", { "data-id": e.id, onclick: () => guarded(() => openEntry(e.id)) },
      el("td", {}, e.id), el("td", {}, e.question), el("td", {}, e.category), el("td", {}, statusBadge(e.status)),
      el("td", {}, e.version), el("td", {}, `${e.updated_by} ${when(e.updated_at)}`));
    if (current && current.id === e.id) row.classList.add("selected");
    return row;
  }));
  if (!entries.length) $("entries").replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "没有符合条件的条目")));
}

function fillForm(entry) {
  const form = $("entry-form");
  form.id.value = entry.id || "";
  form.id.readOnly = Boolean(current);
  form.question.value = entry.question || "";
  form.alternates.value = (entry.alternates || []).join("\n");
  form.also_answers.value = (entry.also_answers || []).join("\n");
  form.answer.value = entry.answer || "";
  form.category.value = entry.category || "";
  form.keywords.value = (entry.keywords || []).join("，");
  form.source.value = entry.source || "";
  form.valid_from.value = entry.valid_from || "";
  form.valid_to.value = entry.valid_to || "";
  updatePreview();
}

function formData() {
  const form = $("entry-form");
  const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
  return {
    question: form.question.value, answer: form.answer.value, category: form.category.value,
    alternates: lines(form.alternates.value), also_answers: lines(form.also_answers.value), keywords: form.keywords.value.split(/[,，、\s]+/).filter(Boolean),
    source: form.source.value, valid_from: form.valid_from.value || null, valid_to: form.valid_to.value || null,
  };
}

function updatePreview() {
  const data = formData();
  $("preview-question").textContent = data.question || "（标准问题）";
  $("preview-answer").textContent = data.answer || "（答案）";
  $("preview-source").textContent = data.source ? `来源：${data.source}（${data.category}）` : "";
}

function openEditor(entry, title) {
  $("editor").hidden = false;
  $("history").hidden = true;
  $("editor-title").textContent = title;
  $("editor-status").replaceChildren(...(current ? [statusBadge(current.status), ` 第 ${current.version} 版`] : ["新条目（保存为草稿）"]));
  $("publish-entry").disabled = !current || current.status === "published";
  $("archive-entry").disabled = !current || current.status === "archived";
  $("show-history").disabled = !current;
  $("try-result").textContent = "";
  fillForm(entry);
  $("editor").scrollIntoView({ block: "nearest" });
}

async function openEntry(id) {
  current = await api(`/api/kb/entries/${enc(id)}`);
  pendingUnanswered = [];
  openEditor(current, `编辑条目 ${id}`);
  for (const row of $("entries").children) row.classList.toggle("selected", row.dataset.id === id);
}

function newEntry(prefill = {}) {
  current = null;
  openEditor(prefill, "新建条目");
}

async function saveEntry(event) {
  event.preventDefault();
  const data = { ...formData(), author: author() };
  if (current) {
    data.version = current.version;
    current = await api(`/api/kb/entries/${enc(current.id)}`, { method: "PUT", json: data });
  } else {
    const id = $("entry-form").id.value.trim();
    if (id) data.id = id;
    current = await api("/api/kb/entries", { method: "POST", json: data });
    if (pendingUnanswered.length) {
      await api("/api/kb/unanswered/resolve", { method: "POST", json: { ids: pendingUnanswered, entry_id: current.id } });
      pendingUnanswered = [];
    }
  }
  notice(`已保存 ${current.id}（第 ${current.version} 版）${current.status === "published" ? "，数秒内生效" : "，发布后对居民生效"}`);
  openEditor(current, `编辑条目 ${current.id}`);
  await Promise.all([loadEntries(), loadCategories()]);
}

async function setStatus(action) {
  current = await api(`/api/kb/entries/${enc(current.id)}/${action}`, { method: "POST", json: { author: author() } });
  notice(action === "publish" ? `已发布 ${current.id}，数秒内生效` : `已归档 ${current.id}`);
  openEditor(current, `编辑条目 ${current.id}`);
  await loadEntries();
}

// What the search decided and why: the three signals, the reason, and the verifier's verdict per candidate.
function explainNodes(result) {
  const x = result.explain || {};
  const fmt = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(3));
  const questions = Object.fromEntries(result.results.map((r) => [r.id, r.question]));
  return [
    el("div", { class: "why" }, `结果：${OUTCOME_NAMES[result.outcome]}。${x.reason || ""}`),
    el("div", { class: "explain" }, `得分 ${fmt(x.score)}　领先第二名 ${fmt(x.margin)}　领先闲聊 ${fmt(x.lead)}`
      + (x.confidence == null ? "" : `　把关模型估计答对 ${Math.round(x.confidence * 100)}%`)),
    ...(x.candidates || []).map((c, i) => el("div", { class: `explain verdict-${c.action}` },
      `${i + 1}. ${c.id} ${questions[c.id] || ""}（${fmt(c.score)}）核对：${VERDICT_NAMES[c.action] || c.action}` +
      (c.reason ? `——${c.reason}` : c.shared && c.shared.length ? `——一致：${c.shared.join("、")}` : ""))),
  ];
}

async function probe(q) {
  return api(`/api/kb/search?q=${enc(q)}&top=3&log=0`);
}

async function trySearch() {
  const q = $("entry-form").question.value.trim();
  if (!q) return;
  $("try-result").replaceChildren(...explainNodes(await probe(q)));
}

async function probeSearch() {
  const q = $("probe-text").value.trim();
  if (!q) return;
  $("probe-result").hidden = false;
  $("probe-result").replaceChildren(...explainNodes(await probe(q)));
}

// ---- history and diff ----------------------------------------------------------------------

// Character diff (LCS) of two texts as <del>/<ins> nodes; long texts fall back to "before / after".
function diffNodes(before, after) {
  const a = [...(before || "")], b = [...(after || "")];
  if (a.length * b.length > 4_000_000) return [el("del", {}, before), el("ins", {}, after)];
  const dp = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--)
    dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out = [];
  const push = (tag, ch) => { const last = out[out.length - 1]; if (last && last.tag === tag) last.text += ch; else out.push({ tag, text: ch }); };
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { push("span", a[i]); i++; j++; }
    else if (dp[i + 1][j] >= dp[i][j + 1]) push("del", a[i++]);
    else push("ins", b[j++]);
  }
  while (i < a.length) push("del", a[i++]);
  while (j < b.length) push("ins", b[j++]);
  // Readability: a common run shorter than MIN_EQUAL characters between changes is folded into the change,
  // so curators read "old phrase → new phrase" instead of a confetti of single characters.
  const MIN_EQUAL = 3;
  const nodes = [];
  let del = "", ins = "";
  const flush = () => {
    if (del) nodes.push(el("del", {}, del));
    if (ins) nodes.push(el("ins", {}, ins));
    del = ""; ins = "";
  };
  out.forEach((part, k) => {
    const between = k > 0 && k < out.length - 1;
    if (part.tag === "span" && (part.text.length >= MIN_EQUAL || !between)) { flush(); nodes.push(el("span", {}, part.text)); }
    else if (part.tag === "span") { del += part.text; ins += part.text; }
    else if (part.tag === "del") del += part.text;
    else ins += part.text;
  });
  flush();
  return nodes;
}

const FIELD_NAMES = { question: "标准问题", alternates: "其他问法", also_answers: "也回答的问法", answer: "答案", category: "分类", keywords: "关键词",
  source: "来源", status: "状态", valid_from: "生效日期", valid_to: "失效日期" };
const asText = (v) => (Array.isArray(v) ? v.join("\n") : v === null || v === undefined ? "" : String(v));

function showDiff(version, against, label) {
  const rows = [];
  for (const [field, name] of Object.entries(FIELD_NAMES)) {
    const before = asText(version.content[field]), after = asText(against[field]);
    if (before !== after) rows.push(el("p", {}, el("b", {}, `${name}：`), ...diffNodes(before, after)));
  }
  $("diff").replaceChildren(el("h4", {}, label), ...(rows.length ? rows : [el("p", { class: "muted" }, "与当前版本相同")]));
}

async function showHistory() {
  const { versions } = await api(`/api/kb/entries/${enc(current.id)}/history`);
  $("history").hidden = false;
  $("history-id").textContent = current.id;
  $("diff").replaceChildren();
  $("versions").replaceChildren(...versions.map((v, index) => el("tr", {},
    el("td", {}, v.version), el("td", {}, ACTION_NAMES[v.action] || v.action), el("td", {}, v.author),
    el("td", {}, when(v.at)),
    el("td", {},
      el("button", { onclick: (e) => { e.stopPropagation(); showDiff(v, current, `第 ${v.version} 版 → 当前（第 ${current.version} 版）`); } }, "与当前对比"), " ",
      index + 1 < versions.length
        ? el("button", { onclick: (e) => { e.stopPropagation(); showDiff(versions[index + 1], v.content, `第 ${versions[index + 1].version} 版 → 第 ${v.version} 版`); } }, "本次改动")
        : "", " ",
      v.version === current.version ? "" : el("button", { class: "restore", onclick: (e) => { e.stopPropagation(); guarded(() => restore(v.version)); } }, "恢复此版本")))));
  $("history").scrollIntoView({ block: "nearest" });
}

async function restore(version) {
  if (!confirm(`确定恢复到第 ${version} 版吗？（会生成新版本，历史不会丢失）`)) return;
  current = await api(`/api/kb/entries/${enc(current.id)}/restore`, { method: "POST", json: { version, author: author() } });
  notice(`已恢复 ${current.id} 到第 ${version} 版的内容（现为第 ${current.version} 版）`);
  openEditor(current, `编辑条目 ${current.id}`);
  await Promise.all([loadEntries(), showHistory()]);
}

// ---- unanswered questions ------------------------------------------------------------------

let publishedEntries = null;  // for choosing which entry an adopted wording belongs to (loaded once)

async function loadUnanswered() {
  const { groups } = await api("/api/kb/unanswered");
  $("unanswered").replaceChildren(...groups.map((g) => el("tr", {},
    el("td", {}, g.question), el("td", {}, g.count),
    el("td", {}, g.wordings.filter((w) => w.text !== g.question).map((w) => `${w.text}（${w.count}）`).join("；")),
    el("td", {}, when(g.last_at)), el("td", { class: "reason" }, g.reason || ""),
    el("td", {}, g.nearest_entry_id ? `${g.nearest_entry_id} ${g.nearest_entry_question || ""}` : ""),
    el("td", {},
      el("button", { class: "create-from", onclick: () => createFrom(g) }, "新建条目"), " ",
      el("button", { class: "adopt", onclick: (e) => guarded(() => showAdopt(g, e.target.closest("tr"))) }, "加为问法…")))));
  if (!groups.length) $("unanswered").replaceChildren(el("tr", {}, el("td", { colspan: "7", class: "muted" }, "暂无未解答的问题")));
}

// Second click of "add as a wording": the nearest entry is preselected; confirming adopts every wording of the group.
async function showAdopt(group, row) {
  if (row.nextSibling && row.nextSibling.classList && row.nextSibling.classList.contains("adopt")) { row.nextSibling.remove(); return; }
  if (!publishedEntries) publishedEntries = (await api("/api/kb/entries?status=published")).entries;
  const select = el("select", { class: "adopt-entry" }, ...publishedEntries.map((e) => el("option", { value: e.id }, `${e.id} ${e.question}`)));
  if (group.nearest_entry_id) select.value = group.nearest_entry_id;
  const confirmButton = el("button", { class: "adopt-confirm", onclick: () => guarded(() => adopt(group, select.value)) }, "确认加入");
  row.after(el("tr", { class: "adopt" }, el("td", { colspan: "7" },
    `把「${group.question}」加为这个条目也回答的问法：`, select, " ", confirmButton)));
}

async function adopt(group, entryId) {
  const result = await api(`/api/kb/entries/${enc(entryId)}/also-answers`,
    { method: "POST", json: { text: group.question, ids: group.ids, author: author() } });
  notice(result.added ? `已把「${group.question}」加为 ${entryId} 的问法（第 ${result.entry.version} 版），数秒内生效`
    : `${entryId} 已有这个问法，已标记为解决`);
  await loadUnanswered();
}

function createFrom(group) {
  switchTab("entries");
  newEntry({ question: group.question, alternates: group.wordings.map((w) => w.text).filter((t) => t !== group.question).slice(0, 4) });
  pendingUnanswered = group.ids;
}

// ---- files ---------------------------------------------------------------------------------

const IMPORT_TYPES = { json: "application/json", yaml: "application/x-yaml", yml: "application/x-yaml", csv: "text/csv" };

async function importFile() {
  const file = $("import-file").files[0];
  if (!file) throw new Error("请先选择文件");
  const ext = file.name.split(".").pop().toLowerCase();
  if (!IMPORT_TYPES[ext]) throw new Error("只支持 .json / .yaml / .csv 文件");
  const params = new URLSearchParams({ status: $("import-status").value, author: author() || "staff" });
  const result = await api(`/api/kb/import?${params}`, { method: "POST", body: await file.arrayBuffer(),
    headers: { "Content-Type": IMPORT_TYPES[ext] } });
  $("import-result").textContent = `导入完成：新增 ${result.created} 条，更新 ${result.updated} 条，未变 ${result.unchanged} 条` +
    (result.encoding === "gbk" ? "（检测到 GBK 编码）" : "");
  await Promise.all([loadEntries(), loadCategories()]);
}

async function exportFile(format) {
  const response = await fetch(`/api/kb/export?format=${format}`, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new Error(`导出失败（${response.status}）`);
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `knowledge_base.${format}` });
  link.click();
  URL.revokeObjectURL(link.href);
}

// ---- wiring --------------------------------------------------------------------------------

function switchTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const tab of ["entries", "unanswered", "files"]) $(`tab-${tab}`).hidden = tab !== name;
  if (name === "unanswered") guarded(loadUnanswered);
}

function refreshAll() { return guarded(() => Promise.all([loadCategories(), loadEntries()])); }

$("token").value = token();
$("author").value = author();
$("save-login").addEventListener("click", () => {
  setToken($("token").value);
  localStorage.setItem(AUTHOR_KEY, $("author").value.trim());
  notice("已保存");
  refreshAll();
});
for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", () => switchTab(button.dataset.tab));
$("filter-go").addEventListener("click", () => guarded(loadEntries));
$("filter-text").addEventListener("keydown", (e) => { if (e.key === "Enter") guarded(loadEntries); });
$("filter-status").addEventListener("change", () => guarded(loadEntries));
$("filter-category").addEventListener("change", () => guarded(loadEntries));
$("new-entry").addEventListener("click", () => { pendingUnanswered = []; newEntry(); });
$("entry-form").addEventListener("submit", (e) => guarded(() => saveEntry(e)));
$("entry-form").addEventListener("input", updatePreview);
$("publish-entry").addEventListener("click", () => guarded(() => setStatus("publish")));
$("archive-entry").addEventListener("click", () => guarded(() => setStatus("archive")));
$("show-history").addEventListener("click", () => guarded(showHistory));
$("close-editor").addEventListener("click", () => { $("editor").hidden = true; $("history").hidden = true; current = null; });
$("try-search").addEventListener("click", () => guarded(trySearch));
$("reload-unanswered").addEventListener("click", () => guarded(loadUnanswered));
$("probe-go").addEventListener("click", () => guarded(probeSearch));
$("probe-text").addEventListener("keydown", (e) => { if (e.key === "Enter") guarded(probeSearch); });
$("import-go").addEventListener("click", () => guarded(importFile));
for (const button of document.querySelectorAll("[data-export]")) button.addEventListener("click", () => guarded(() => exportFile(button.dataset.export)));
refreshAll();
