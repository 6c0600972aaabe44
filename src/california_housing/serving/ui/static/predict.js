// Predict page: the 8 raw features -> POST /predict -> the price, the domain check, the map.
import {
  ApiError, api, detailText, dollars, domainRules, el, errorNotice, fixed,
  ruleText, show, startPage, svg, withCode,
} from "./common.js";

// A rough outline of California (longitude, latitude), enough to place a point by eye.
const CALIFORNIA = [
  [-124.21, 42.0], [-120.0, 42.0], [-120.0, 39.0], [-114.63, 35.0], [-114.13, 34.27],
  [-114.53, 33.93], [-114.72, 33.41], [-114.47, 32.84], [-114.72, 32.72], [-117.12, 32.53],
  [-117.25, 32.87], [-117.38, 33.2], [-117.7, 33.46], [-118.2, 33.75], [-118.4, 33.75],
  [-118.52, 34.03], [-119.08, 34.1], [-119.7, 34.4], [-120.47, 34.45], [-120.65, 34.58],
  [-120.64, 35.14], [-120.87, 35.37], [-121.28, 35.67], [-121.9, 36.3], [-121.9, 36.6],
  [-122.03, 36.96], [-122.5, 37.5], [-122.51, 37.78], [-123.02, 38.0], [-123.05, 38.3],
  [-123.74, 38.95], [-123.8, 39.45], [-124.41, 40.44], [-124.2, 40.8], [-124.15, 41.06],
  [-124.2, 41.75],
];

let fields = [];
let model = null;
const inputs = {};

function rangeText(field) {
  const parts = [];
  if (field.min !== null) parts.push(`${field.min_inclusive ? "≥" : ">"} ${field.min}`);
  if (field.max !== null) parts.push(`${field.max_inclusive ? "≤" : "<"} ${field.max}`);
  return parts.length ? `valid: ${parts.join(" and ")}` : "any number";
}

function buildForm() {
  const form = el("form", { id: "predict-form", novalidate: true });
  for (const field of fields) {
    const id = `f-${field.name}`;
    const input = el("input", {
      id, name: field.name, type: "number", step: "any", value: field.default,
      "aria-describedby": `${id}-help ${id}-error`, required: true,
    });
    input.addEventListener("input", drawMap);
    inputs[field.name] = input;
    form.append(el(
      "div", { class: "field" },
      el("label", { for: id }, field.name),
      input,
      el("div", { class: "help", id: `${id}-help` },
        `${field.description}, in ${field.unit}. `, el("span", { class: "range" }, rangeText(field))),
      el("div", { class: "error", id: `${id}-error`, "aria-live": "polite" }),
    ));
  }
  form.append(el(
    "div", { class: "actions" },
    el("button", { type: "submit", id: "predict-button" }, "Predict"),
    el("button", { type: "button", class: "secondary", onclick: resetForm }, "Reset to defaults"),
  ));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    predict();
  });
  return form;
}

function resetForm() {
  for (const field of fields) inputs[field.name].value = field.default;
  clearErrors();
  drawMap();
}

function clearErrors() {
  for (const field of fields) {
    inputs[field.name].classList.remove("invalid");
    document.getElementById(`f-${field.name}-error`).textContent = "";
  }
}

/** The form as a row: numbers where the text is one, the text itself otherwise (the API says why). */
function row() {
  const values = {};
  for (const field of fields) {
    const text = inputs[field.name].value.trim();
    values[field.name] = text === "" ? null : (Number.isFinite(Number(text)) ? Number(text) : text);
  }
  return values;
}

async function predict() {
  const result = document.getElementById("result");
  const button = document.getElementById("predict-button");
  clearErrors();
  button.disabled = true;
  show(result, el("p", { class: "muted" }, "Asking the service…"));
  try {
    const answer = await api("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ rows: [row()] }),
    });
    showPrediction(answer);
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && Array.isArray(error.detail)) {
      showInvalid(error.detail);
    } else {
      show(result, errorNotice(error));
    }
  } finally {
    button.disabled = false;
  }
  drawMap();
}

function showInvalid(problems) {
  const listed = [];
  for (const problem of problems) {
    const column = (problem.loc || []).find((part) => typeof part === "string" && part in inputs);
    if (column) {
      inputs[column].classList.add("invalid");
      const slot = document.getElementById(`f-${column}-error`);
      slot.textContent = slot.textContent ? `${slot.textContent}; ${problem.msg}` : problem.msg;
    }
    listed.push(el("li", {}, column ? `${column}: ${problem.msg}` : detailText([problem])));
  }
  show(document.getElementById("result"), el(
    "div", { class: "notice error", role: "alert", "data-kind": "invalid" },
    el("strong", {}, "The service refused these values"), " (nothing was predicted):",
    el("ul", {}, listed),
  ));
}

function showPrediction(answer) {
  const prediction = answer.predictions[0];
  const value = prediction.predicted_MedHouseVal;
  const parts = [
    el("div", { class: "muted" }, "Predicted median house value"),
    el("div", { class: "price", id: "price" }, dollars(value)),
    el("div", { class: "muted" },
      `MedHouseVal = ${fixed(value, 4)} (unit: ${prediction.unit}) · model `,
      el("strong", { id: "model-version" }, `${answer.model_name} version ${answer.model_version}`)),
  ];
  if (prediction.out_of_domain) {
    parts.push(el(
      "div", { class: "notice warn", role: "alert", id: "ood-warning" },
      el("strong", {}, "Outside the model's training domain"),
      ": the model never saw block groups like this one, so treat the price with caution."
      + " Rules of its training data that this block group breaks:",
      el("ul", {}, prediction.domain_violations.map((rule) => el("li", {}, ruleText(rule)))),
    ));
  } else {
    parts.push(el("div", { class: "notice ok", id: "in-domain" },
      "Inside the model's training domain."));
  }
  parts.push(el("div", { class: "muted" }, "Prediction id (for feedback): ",
    el("code", {}, prediction.prediction_id)));
  show(document.getElementById("result"), parts);
}

function drawMap() {
  const holder = document.getElementById("map");
  if (!holder) return;
  const lon = fields.find((f) => f.name === "Longitude");
  const lat = fields.find((f) => f.name === "Latitude");
  const [x0, x1, y0, y1] = [lon.min, lon.max, lat.min, lat.max];
  const width = 330;
  const height = Math.round(width * ((y1 - y0) / ((x1 - x0) * Math.cos((37 * Math.PI) / 180))));
  const pad = 28;
  const x = (v) => pad + ((v - x0) / (x1 - x0)) * width;
  const y = (v) => pad + ((y1 - v) / (y1 - y0)) * height;
  const box = svg("svg", {
    viewBox: `0 0 ${width + 2 * pad} ${height + 2 * pad}`, width: "100%", role: "img",
    "aria-label": "The point's position in California and the model's training domain",
  });
  box.append(svg("rect", { x: pad, y: pad, width, height, fill: "#eef4fb", stroke: "#9fb3c8" }));
  box.append(svg("polygon", {
    points: CALIFORNIA.map(([a, b]) => `${x(a)},${y(b)}`).join(" "),
    fill: "#ffffff", stroke: "#6b7f95", "stroke-width": 1.2,
  }));
  // the training domain's rules on the coordinates: shade what they exclude
  const rules = [];
  for (const [column, ops] of Object.entries((model && model.domain) || {})) {
    if (column !== "Longitude" && column !== "Latitude") continue;
    for (const [op, value] of Object.entries(ops)) rules.push([column, op, Number(value)]);
  }
  for (const [column, op, value] of rules) {
    const upper = op === "lt" || op === "le";
    const attributes = column === "Longitude"
      ? (upper ? { x: x(value), y: pad, width: x(x1) - x(value), height }
        : { x: pad, y: pad, width: x(value) - pad, height })
      : (upper ? { x: pad, y: pad, width, height: y(value) - pad }
        : { x: pad, y: y(value), width, height: y(y0) - y(value) });
    box.append(svg("rect", { ...attributes, fill: "#cf222e", "fill-opacity": 0.1 }));
    const line = column === "Longitude"
      ? { x1: x(value), x2: x(value), y1: pad, y2: pad + height }
      : { x1: pad, x2: pad + width, y1: y(value), y2: y(value) };
    box.append(svg("line", { ...line, stroke: "#cf222e", "stroke-dasharray": "5 4", "stroke-width": 1.5 }));
    box.append(svg("text", {
      x: column === "Longitude" ? x(value) + 4 : pad + 4,
      y: column === "Longitude" ? pad + height - 6 : y(value) - 4,
      "font-size": 11, fill: "#a40e26",
    }, "outside the training domain"));
  }
  for (const tick of [-124, -122, -120, -118, -116, -114]) {
    box.append(svg("text", { x: x(tick), y: pad + height + 16, "font-size": 10, "text-anchor": "middle", fill: "#5b6b7c" }, `${tick}`));
  }
  for (const tick of [33, 35, 37, 39, 41]) {
    box.append(svg("text", { x: pad - 4, y: y(tick) + 3, "font-size": 10, "text-anchor": "end", fill: "#5b6b7c" }, `${tick}`));
  }
  const px = Number(inputs.Longitude.value);
  const py = Number(inputs.Latitude.value);
  let caption = "Enter a latitude and a longitude to place the block group.";
  if (Number.isFinite(px) && Number.isFinite(py)) {
    const inside = px > x0 && px <= x1 && py > y0 && py <= y1;
    const ops = { lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b };
    const broken = rules.filter(([column, op, value]) => ops[op]
      && !ops[op](column === "Longitude" ? px : py, value));
    const cx = Math.min(Math.max(px, x0), x1);
    const cy = Math.min(Math.max(py, y0), y1);
    box.append(svg("circle", {
      cx: x(cx), cy: y(cy), r: 6, fill: broken.length || !inside ? "#cf222e" : "#1a7f37",
      stroke: "#fff", "stroke-width": 2, id: "map-point",
    }));
    caption = !inside
      ? "The point lies outside the valid range of coordinates (the box)."
      : broken.length
        ? "The point lies outside the coordinates the model was trained on (red area)."
        : "The point lies inside the coordinates the model was trained on.";
  }
  show(holder, box, el("p", { class: "muted", id: "map-caption" }, caption,
    " Box: the valid range of the schema; outline: California (approximate)."));
}

async function main() {
  const start = await startPage();
  if (!start) return;
  const { page, config } = start;
  fields = config.features;
  model = start.model;
  const domain = model ? domainRules(model.domain).filter((rule) => !rule.startsWith("MedHouseVal")) : [];
  show(page, el(
    "div", { class: "grid" },
    el("section", { class: "card" }, el("h3", {}, "Block group"), buildForm()),
    el("section", {},
      el("div", { class: "card", id: "result", "aria-live": "polite" },
        el("p", { class: "muted" }, "Fill in the block group and press Predict.")),
      el("div", { class: "card" },
        el("h3", {}, "Where it lies"),
        el("div", { id: "map" }),
        model
          ? el("p", { class: "muted" }, `Training domain of version ${model.version} (data version ${model.data_version}): `,
            withCode(domain.length ? domain.map((r) => `\`${r}\``).join(", ") : "no rules (all rows)"))
          : null)),
  ));
  drawMap();
}

main();
