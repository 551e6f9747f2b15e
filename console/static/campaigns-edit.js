// The campaigns page's edit form (campaigns.html #edit-form): the campaign's settings loaded into the form, saved
// with PATCH /api/campaigns/<c> (gateway/campaigns_api.py) carrying only what changed plus the updated_at the form
// was loaded with, so an edit saved meanwhile by someone else comes back as a 409 shown here, never overwritten.
import { api } from "/staff/common.js";

// The spec's field paths (campaigns/validation.py, campaigns/store/edits.py) → the form's error slot
// (err-edit-<slot>); the version conflict and anything unnamed go under the form.
const EDIT_FIELDS = [
  [/^name$/, "name"], [/^opening$/, "opening"], [/^closing$/, "closing"], [/^schedule\.window/, "window"],
  [/^schedule\.blocked_dates/, "blocked_dates"], [/^schedule(\.times.*)?$/, "times"],
  [/^(retry\.)?attempts$|^retry$/, "attempts"], [/^retry\.interval_minutes$/, "interval_minutes"],
  [/^retry\.busy_interval_minutes$/, "busy_interval_minutes"],
  [/^retry\.no_answer_interval_minutes$/, "no_answer_interval_minutes"], [/^max_channels$/, "max_channels"],
  [/^ring_timeout_s$/, "ring_timeout_s"], [/^caller_id$/, "caller_id"], [/^script/, "script"], [/^abnormal/, "abnormal"],
];
const RETRY_KEYS = ["attempts", "interval_minutes", "busy_interval_minutes", "no_answer_interval_minutes"];
const PLAIN_KEYS = ["max_channels", "ring_timeout_s", "caller_id", "opening", "closing"];

const $ = (id) => document.getElementById(id);
const joined = (list) => (list || []).join(", ");
const listOf = (text) => text.split(/[,，、\s]+/).filter(Boolean);
const pretty = (value) => JSON.stringify(value, null, 2);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The form's values in the spec's shape; a JSON box that does not parse is named beside it (then null). */
function formSpec(f) {
  const number = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
  const parsed = (name) => {
    try { return JSON.parse(f[name].value); } catch (err) {
      $(`err-edit-${name}`).textContent = `不是有效的 JSON：${err.message}`;
      return null;
    }
  };
  const script = parsed("script"), abnormal = parsed("abnormal");
  if (script === null || abnormal === null) return null;
  return {
    name: f.name.value.trim(), opening: f.opening.value.trim(), closing: f.closing.value.trim(),
    schedule: { times: listOf(f.times.value), window: [f.window_start.value, f.window_end.value],
      blocked_dates: listOf(f.blocked_dates.value) },
    retry: Object.fromEntries(RETRY_KEYS.map((key) => [key, number(f[key])])),
    max_channels: number(f.max_channels), ring_timeout_s: number(f.ring_timeout_s), caller_id: f.caller_id.value.trim(),
    script, abnormal,
  };
}

/** Only what the operator changed (schedule and retry key by key): an untouched field is never sent again, so it
 * cannot overwrite anything, nor trip the rules about recorded answers. */
function changesOf(before, after) {
  const changes = {};
  for (const [key, value] of Object.entries(after)) {
    if (key === "schedule" || key === "retry") {
      const part = Object.entries(value).filter(([k, v]) => v !== undefined && !same(v, before[key][k]));
      if (part.length) changes[key] = Object.fromEntries(part);
    } else if (value !== undefined && !same(value, before[key])) changes[key] = value;
  }
  return changes;
}

/** The edit form of the page: ``campaign()`` is the selected campaign's id, ``saved()`` refreshes the page. */
export function editor({ base, campaign, clearErrors, notice, saved }) {
  let loaded = null;  // the campaign as the form was filled from it ({id, spec, updated_at}); null: form closed
  const form = $("edit-form");

  async function open() {
    const c = await api(`${base}/${campaign()}`);
    loaded = { id: c.id, spec: c.spec, updated_at: c.updated_at };
    clearErrors(form);
    const f = form.elements, spec = c.spec;
    f.name.value = spec.name;
    f.times.value = joined(spec.schedule.times);
    [f.window_start.value, f.window_end.value] = spec.schedule.window;
    f.blocked_dates.value = joined(spec.schedule.blocked_dates);
    for (const key of RETRY_KEYS) f[key].value = spec.retry[key];
    for (const key of PLAIN_KEYS) f[key].value = spec[key];
    f.script.value = pretty(spec.script);
    f.abnormal.value = pretty(spec.abnormal);
    form.hidden = false;
  }

  function close() {
    loaded = null;
    form.hidden = true;
  }

  async function save(event) {
    event.preventDefault();
    clearErrors(form);
    if (!loaded) return;
    const after = formSpec(form.elements);
    if (after === null) return;
    const changes = changesOf(loaded.spec, after);
    if (!Object.keys(changes).length) { $("err-edit-form").textContent = "没有修改任何内容"; return; }
    let row;
    try {
      row = await api(`${base}/${loaded.id}`, { method: "PATCH", json: { ...changes, updated_at: loaded.updated_at } });
    } catch (err) {
      if (!err.body || !err.body.error) throw err;
      const path = err.field || "";
      const match = EDIT_FIELDS.find(([pattern]) => pattern.test(path));
      const hint = err.code === "edit_conflict" ? "（点“编辑”重新载入）" : match || !path ? "" : `（${path}）`;
      $(`err-edit-${match ? match[1] : "form"}`).textContent = err.body.error.message + hint;
      return;
    }
    close();
    notice(`已保存对活动“${row.name}”的修改：${Object.keys(changes).join("、")}`);
    await saved();
  }

  return { open, close, save };
}
