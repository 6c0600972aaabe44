// Shared by every page: calls to the service, error messages, formatting, the header.
// The pages are served by the service itself, so every call is same-origin.

/** The service did not answer at all (stopped, restarting, network gone). */
export class ServiceDown extends Error {}

/** The service answered with an error status; `detail` is its explanation. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

let config = null;

/** Call one of the service's JSON endpoints; throws ServiceDown or ApiError. */
export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { cache: "no-store", ...options });
  } catch {
    throw new ServiceDown(path);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null; // not JSON (a proxy's error page): never shown as is
  }
  if (response.status === 502 || response.status === 504) throw new ServiceDown(path);
  if (!response.ok) throw new ApiError(response.status, body && body.detail);
  return body;
}

/** The UI's configuration (form fields, suggested commands); remembered for when the service is down. */
export async function loadConfig() {
  if (config) return config;
  try {
    config = await api("/ui/api/config");
    sessionStorage.setItem("ui-config", JSON.stringify(config));
  } catch (error) {
    const saved = sessionStorage.getItem("ui-config");
    if (!saved) throw error;
    config = JSON.parse(saved);
  }
  return config;
}

/** `kedro serve --env ENV [--port P]`: how to start this very service again. */
export function serveCommand() {
  const base = (config && config.serve_command) || "kedro serve --env <your environment>";
  const port = window.location.port;
  return port && port !== "8000" ? `${base} --port ${port}` : base;
}

/** Create an element: el("p", {class: "muted"}, "text", child, ...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Text that may contain `code` spans, as nodes (never as HTML). */
export function withCode(text) {
  return String(text)
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith("`") && part.endsWith("`") && part.length > 1
      ? el("code", {}, part.slice(1, -1))
      : part));
}

/** A short, human explanation of an API error's detail (a string or FastAPI's error list). */
export function detailText(detail) {
  if (!detail) return "no explanation was given";
  if (typeof detail === "string") return detail.slice(0, 500);
  if (Array.isArray(detail)) {
    return detail.slice(0, 5).map((item) => (item && item.msg) || String(item)).join("; ");
  }
  return "see the service's log";
}

/** The notice shown when a call fails: what happened, and what to do. */
export function errorNotice(error) {
  if (error instanceof ServiceDown) {
    setStatus("Service not running", true);
    return el(
      "div",
      { class: "notice error", role: "alert", "data-kind": "service-down" },
      el("strong", {}, "The service is not running"),
      ` (nothing answers at ${window.location.origin}). Start it from the project folder with `,
      el("code", {}, serveCommand()),
      ", then try again.",
    );
  }
  if (error instanceof ApiError) {
    const what = error.status === 503
      ? "The service is running but not ready"
      : `The service answered with an error (HTTP ${error.status})`;
    return el(
      "div",
      { class: "notice error", role: "alert", "data-kind": "api-error" },
      el("strong", {}, what), ": ", withCode(detailText(error.detail)),
    );
  }
  return el(
    "div",
    { class: "notice error", role: "alert", "data-kind": "page-error" },
    el("strong", {}, "This page could not finish"), `: ${error && error.message ? error.message : error}.`,
    " Reload it; if it happens again, the service's log may say more.",
  );
}

/** Create an SVG element: svg("rect", {x: 1}, "title text"). */
export function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

/** Start a page: its #page element, the UI's configuration and the served model (or null). */
export async function startPage() {
  const page = document.getElementById("page");
  const model = refreshStatus();
  try {
    return { page, config: await loadConfig(), model: await model };
  } catch (error) {
    show(page, errorNotice(error));
    return null;
  }
}

/** Replace the content of `target` with `nodes`. */
export function show(target, ...nodes) {
  target.replaceChildren(...nodes.flat());
}

export function setStatus(text, down = false) {
  const status = document.getElementById("status");
  if (!status) return;
  status.textContent = text;
  status.classList.toggle("down", down);
}

/** The header's status: which model the service serves, or why it cannot. */
export async function refreshStatus() {
  try {
    const model = await api("/model");
    setStatus(`Serving ${model.name} version ${model.version} (${model.candidate || "?"})`);
    return model;
  } catch (error) {
    if (error instanceof ServiceDown) setStatus("Service not running", true);
    else setStatus(`No model: ${detailText(error.detail)}`, true);
    return null;
  }
}

/** MedHouseVal (in $100,000) as dollars. */
export function dollars(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "n/a";
  return `$${Math.round(Number(value) * 100000).toLocaleString("en-US")}`;
}

export function fixed(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "";
  const number = Number(value);
  return Number.isFinite(number) ? number.toFixed(digits) : String(value);
}

export function when(value) {
  if (!value) return "";
  // timestamps without a zone are UTC here (the pipelines write UTC)
  const text = String(value);
  const date = new Date(/(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text.replace(" ", "T")}Z`);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

const SYMBOLS = { lt: "<", le: "≤", gt: ">", ge: "≥", eq: "=", ne: "≠" };

/** A rule as the API words it ("Longitude lt -119.0") with a symbol ("Longitude < -119.0"). */
export function ruleText(rule) {
  const [column, op, ...value] = String(rule).split(" ");
  return SYMBOLS[op] ? `${column} ${SYMBOLS[op]} ${value.join(" ")}` : String(rule);
}

/** A domain (`{column: {op: value}}`) as rules: "Longitude < -119". */
export function domainRules(domain) {
  const symbols = SYMBOLS;
  const rules = [];
  for (const [column, ops] of Object.entries(domain || {})) {
    for (const [op, value] of Object.entries(ops || {})) {
      rules.push(`${column} ${symbols[op] || op} ${value}`);
    }
  }
  return rules;
}

// Anything a page did not catch still ends as a sentence, never as a trace.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  const main = document.querySelector("main");
  if (main) main.prepend(errorNotice(event.reason));
});
