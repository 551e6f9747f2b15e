// Shared by every staff page: the staff token (kept in this browser only) and a fetch wrapper.
export function token() { return localStorage.getItem("govbot.staffToken") || ""; }
export function setToken(value) { localStorage.setItem("govbot.staffToken", value.trim()); }

export async function api(path, options = {}) {
  const headers = Object.assign({ "Authorization": `Bearer ${token()}` }, options.headers || {});
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { raw: text }; }
  if (!response.ok) {
    const message = body && body.error ? `${body.error.message}${body.error.field ? `（${body.error.field}）` : ""}` : response.statusText;
    // The API's error (code, field) and body ride along: a page can show it beside the field it names.
    throw Object.assign(new Error(message), { status: response.status, code: body?.error?.code,
      field: body?.error?.field, body });
  }
  return body;
}

// Text goes into the page only through textContent: answers and resident input are never parsed as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}
