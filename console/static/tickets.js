// The dispatchers' page: work queue, actions on a case, supervision and metrics.
// Every request goes to /api/dispatch on this page's own origin: the gateway relays it to the dispatch
// service (gateway/dispatch_proxy.py). No address is ever taken from the URL or storage, so no link can
// send the staff token to another site.
import { api, el } from "/staff/common.js";

const REFRESH_MS = 30000;
const STAGES = { sign: "签收", dispatch: "派遣", close: "办结" };
const STATUS_NAMES = { submitted: "待签收", signed: "已签收", assigned: "已派遣", reopened: "重新办理", closed: "已办结" };

const $ = (id) => document.getElementById(id);
const call = (path, options) => api(`/api/dispatch${path}`, options);
localStorage.removeItem("govbot.dispatchBase");  // an address remembered by an older version of this page
const enc = encodeURIComponent;

let departments = [];
let selected = null;

function showError(err) { $("error").textContent = err ? `出错：${err.message || err}` : ""; }
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const num = (v) => (v === null || v === undefined ? "—" : String(v));
const time = (v) => (v ? v.slice(5, 16).replace("T", " ") : "—");

async function loadDepartments() {
  const data = await call("/departments");
  departments = data.departments;
  $("department").replaceChildren(el("option", { value: "" }, "全部"),
    ...departments.map((d) => el("option", { value: d.name }, d.name)));
}

async function loadMetrics() {
  const { total, departments: rows } = await call("/metrics");
  const card = (label, value) => el("div", { class: "card" }, el("b", {}, value), label);
  $("metrics").replaceChildren(card("案件", num(total.cases)), card("来件", num(total.reports)),
    card("受理率", pct(total.acceptance_rate)), card("按期办结率", pct(total.on_time_closure_rate)),
    card("满意率", pct(total.satisfaction_rate)), card("办结中位（分）", num(total.median_minutes_to_close)));
  $("metrics-departments").replaceChildren(...rows.map((d) => el("tr", {},
    el("td", {}, d.department), el("td", {}, d.cases), el("td", {}, pct(d.acceptance_rate)),
    el("td", {}, pct(d.on_time_closure_rate)), el("td", {}, pct(d.satisfaction_rate)),
    el("td", {}, num(d.median_minutes_to_sign)), el("td", {}, num(d.median_minutes_to_dispatch)),
    el("td", {}, num(d.median_minutes_to_close)))));
}

async function loadSupervision() {
  const { supervision } = await call("/supervision");
  $("supervision").replaceChildren(...(supervision.length ? supervision.map((s) => el("tr", {},
    el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); openTicket(s.service_request_id); } },
      s.service_request_id)),
    el("td", {}, s.service_name), el("td", {}, s.department), el("td", {}, `超时未${STAGES[s.stage] || s.stage}`),
    el("td", {}, time(s.due_at))))
    : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "暂无超时工单"))]));
}

function statusCell(t) {
  const cell = el("td", {});
  if (t.urgent) cell.append(el("span", { class: "badge urgent" }, "紧急"));
  if (t.status === "closed") cell.append(el("span", { class: "badge closed" }, "已办结"));
  else cell.append(STATUS_NAMES[t.detailed_status] || t.detailed_status);
  for (const stage of t.overdue) cell.append(" ", el("span", { class: "badge late" }, `超时未${STAGES[stage]}`));
  return cell;
}

async function loadTickets() {
  const params = new URLSearchParams();
  if ($("status").value) params.set("status", $("status").value);
  if ($("overdue").checked) params.set("overdue", "1");
  if ($("department").value) params.set("department", $("department").value);
  if ($("q").value.trim()) params.set("q", $("q").value.trim());
  const { tickets } = await call(`/tickets?${params}`);
  $("tickets").replaceChildren(...(tickets.length ? tickets.map((t) => el("tr",
    { class: t.service_request_id === selected ? "selected" : "", "data-id": t.service_request_id },
    el("td", {}, t.service_request_id), el("td", {}, t.service_name),
    el("td", {}, t.description.length > 60 ? `${t.description.slice(0, 60)}…` : t.description),
    el("td", {}, t.address || (t.lat !== null ? `${t.lat}, ${t.long}` : "—")),
    el("td", {}, t.department + (t.grid ? `（${t.grid}）` : "")), statusCell(t),
    el("td", {}, t.reporters), el("td", {}, time(t.expected_datetime)),
    el("td", {},
      t.detailed_status === "submitted" ? el("button", { onclick: () => act(t.service_request_id, "sign", {}) }, "签收") : "",
      " ", el("button", { onclick: () => openTicket(t.service_request_id) }, "处理"))))
    : [el("tr", {}, el("td", { colspan: "9", class: "muted" }, "没有符合条件的工单"))]));
}

async function act(id, action, body) {
  showError(null);
  try {
    await call(`/tickets/${enc(id)}/${action}`, { method: "POST", json: body });
    await refresh();
    if (selected === id) await openTicket(id);
  } catch (err) { showError(err); }
}

function actionForm(label, fields, onsubmit) {
  const form = el("form", {}, el("strong", {}, `${label}：`), ...fields, " ", el("button", { type: "submit" }, label));
  form.addEventListener("submit", (e) => { e.preventDefault(); onsubmit(form); });
  return form;
}

function departmentSelect(name, multiple = false) {
  const select = el("select", multiple ? { name, multiple: "multiple", size: "4" } : { name },
    ...departments.map((d) => el("option", { value: d.key }, d.name)));
  return select;
}

async function openTicket(id) {
  showError(null);
  selected = id;
  let t;
  try { t = await call(`/tickets/${enc(id)}`); } catch (err) { showError(err); return; }
  const box = $("detail");
  box.hidden = false;
  const contact = t.contact || {};
  const who = [contact.last_name, contact.first_name].filter(Boolean).join("") || "（未留姓名）";
  const parts = [
    el("h3", {}, `${t.service_request_id} · ${t.service_name}`),
    el("p", {}, statusCell(t).textContent, " · ", t.status_notes),
    el("p", {}, `来件 ${time(t.requested_datetime)} · 签收时限 ${time(t.sign_due)} · 派遣时限 ${time(t.dispatch_due)} · 办结时限 ${time(t.close_due)}`),
    el("p", {}, `部门：${t.department}${t.grid ? `（${t.grid}）` : ""}`,
      t.co_departments.length ? ` · 协同：${t.co_departments.join("、")}` : ""),
    el("p", {}, `联系人：${who} ${contact.phone || ""} · 渠道：${t.channel || "—"}`),
    el("pre", {}, t.description),
  ];
  if (t.transcript) parts.push(el("details", {}, el("summary", {}, "对话记录"), el("pre", {}, t.transcript)));
  if (t.duplicates.length) {
    parts.push(el("p", {}, `合并来件 ${t.duplicates.length} 件：`, t.duplicates.map((d) => d.service_request_id).join("、")));
  }
  if (t.ratings.length) {
    parts.push(el("p", {}, "评价：", t.ratings.map((r) => `${r.score} 分${r.comment ? `（${r.comment}）` : ""}`).join("；")));
  }
  if (t.is_duplicate) {
    parts.push(el("p", { class: "muted" }, "该工单已并入主工单，请在主工单上操作。"));
  } else if (t.status !== "closed") {
    if (t.detailed_status === "submitted") parts.push(el("button", { onclick: () => act(id, "sign", {}) }, "签收"));
    parts.push(
      actionForm("派遣", [departmentSelect("department"), " 网格 ", el("input", { name: "grid", size: "10" })],
        (f) => act(id, "assign", { department: f.department.value, grid: f.grid.value || null })),
      actionForm("吹哨", [departmentSelect("departments", true), " ", el("input", { name: "note", placeholder: "说明", size: "20" })],
        (f) => act(id, "escalate", { departments: [...f.departments.selectedOptions].map((o) => o.value), note: f.note.value || null })),
      actionForm("记录进展", [el("input", { name: "note", size: "30" }), " ",
        el("label", {}, el("input", { type: "checkbox", name: "internal" }), "仅内部")],
        (f) => act(id, "note", { note: f.note.value, public: !f.internal.checked })),
      actionForm("办结", [el("input", { name: "result", size: "30", placeholder: "处理结果（将告知市民）" })],
        (f) => act(id, "close", { result: f.result.value })));
  } else {
    parts.push(actionForm("重新办理", [el("input", { name: "reason", size: "30", placeholder: "原因" })],
      (f) => act(id, "reopen", { reason: f.reason.value })));
  }
  parts.push(el("h4", {}, "办理记录"), el("table", {}, el("thead", {}, el("tr", {},
    el("th", {}, "时间"), el("th", {}, "动作"), el("th", {}, "经办"), el("th", {}, "说明"))),
    el("tbody", {}, ...t.history.map((h) => el("tr", {}, el("td", {}, time(h.at)), el("td", {}, h.action),
      el("td", {}, h.actor), el("td", {}, h.note + (h.public ? "" : "（内部）")))))));
  box.replaceChildren(...parts);
}

async function refresh() {
  showError(null);
  try { await Promise.all([loadTickets(), loadSupervision(), loadMetrics()]); } catch (err) { showError(err); }
}

for (const id of ["status", "overdue", "department"]) $(id).addEventListener("change", () => refresh());
$("refresh").addEventListener("click", () => refresh());
$("q").addEventListener("keydown", (e) => { if (e.key === "Enter") refresh(); });

async function start() {
  try { await loadDepartments(); } catch (err) { showError(err); return; }
  await refresh();
}
start();
setInterval(refresh, REFRESH_MS);
