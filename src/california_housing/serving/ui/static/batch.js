// Batch page: a CSV file -> POST /predict (all rows at once) -> problems by row and column,
// or the scored file to download. As in the API, one invalid row means nothing is scored.
import {
  ApiError, api, detailText, dollars, el, errorNotice, ruleText, show, startPage,
} from "./common.js";

let features = [];
let scoredUrl = null;

/** Parse CSV text (RFC 4180: commas, double quotes, CRLF or LF) into rows of cells. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  const source = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i];
    if (quoted) {
      if (c === '"' && source[i + 1] === '"') { cell += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && source[i + 1] === "\n") i += 1;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows.filter((cells) => cells.some((value) => value.trim() !== ""));
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A cell as the API expects it: a number; empty -> null and other text as is (the API names the problem). */
function cellValue(text) {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : trimmed;
}

function problemsTable(problems, rowCount) {
  return el(
    "div", { class: "notice error", role: "alert", "data-kind": "invalid" },
    el("strong", {}, `Nothing was scored: the file has problems`),
    ` (${problems.length}${problems.length >= 50 ? " shown; the service lists the first 50" : ""}, in ${rowCount} rows). Fix them and upload the file again.`,
    el("div", { class: "scroll" }, el("table", { id: "problems" },
      el("thead", {}, el("tr", {}, el("th", { class: "num" }, "Row"), el("th", { class: "num" }, "Line in file"), el("th", {}, "Column"), el("th", {}, "Problem"))),
      el("tbody", {}, problems.map((p) => el("tr", {},
        el("td", { class: "num" }, p.row ?? ""), el("td", { class: "num" }, p.line ?? ""),
        el("td", {}, p.column ?? ""), el("td", {}, p.message)))))),
  );
}

/** FastAPI-style 422 details -> {row, line, column, message}; row 1 is the first data row. */
function problemsFrom(detail) {
  return detail.map((item) => {
    const loc = item.loc || [];
    const at = loc.indexOf("rows");
    const index = at >= 0 && Number.isInteger(loc[at + 1]) ? loc[at + 1] : null;
    const column = at >= 0 && typeof loc[at + 2] === "string" ? loc[at + 2] : null;
    return {
      row: index === null ? null : index + 1,
      line: index === null ? null : index + 2,
      column,
      message: item.msg || detailText([item]),
    };
  });
}

async function score(file) {
  const result = document.getElementById("result");
  if (scoredUrl) URL.revokeObjectURL(scoredUrl);
  scoredUrl = null;
  show(result, el("p", { class: "muted" }, `Reading ${file.name}…`));
  const table = parseCsv(await file.text());
  if (table.length < 2) {
    show(result, el("div", { class: "notice error", role: "alert", "data-kind": "invalid" },
      el("strong", {}, "Nothing was scored"), `: ${file.name} has no data rows (a header line and at least one row are needed).`));
    return;
  }
  const header = table[0].map((name) => name.trim());
  const missing = features.filter((name) => !header.includes(name));
  if (missing.length) {
    show(result, problemsTable(missing.map((name) => ({
      row: null, line: 1, column: name,
      message: `column missing from the header line (the file has: ${header.join(", ")})`,
    })), table.length - 1));
    return;
  }
  const positions = Object.fromEntries(features.map((name) => [name, header.indexOf(name)]));
  const data = table.slice(1);
  const rows = data.map((cells) => Object.fromEntries(
    features.map((name) => [name, cellValue(cells[positions[name]] ?? "")])));
  show(result, el("p", { class: "muted" }, `Scoring ${rows.length} rows…`));
  let answer;
  try {
    answer = await api("/predict", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ rows }),
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && Array.isArray(error.detail)) {
      show(result, problemsTable(problemsFrom(error.detail), rows.length));
    } else if (error instanceof ApiError && error.status === 413) {
      show(result, el("div", { class: "notice error", role: "alert" },
        el("strong", {}, "Nothing was scored: the file is too large for one request"), `: ${detailText(error.detail)} Split it into smaller files.`));
    } else {
      show(result, errorNotice(error));
    }
    return;
  }
  const predictions = answer.predictions;
  const outHeader = [...header, "predicted_MedHouseVal", "predicted_value_usd", "out_of_domain",
    "domain_violations", "prediction_id", "model_name", "model_version"];
  const lines = [outHeader.map(csvCell).join(",")];
  data.forEach((cells, i) => {
    const p = predictions[i];
    lines.push([...header.map((_, j) => cells[j] ?? ""), p.predicted_MedHouseVal,
      Math.round(p.predicted_MedHouseVal * 100000), p.out_of_domain, p.domain_violations.join("; "),
      p.prediction_id, answer.model_name, answer.model_version].map(csvCell).join(","));
  });
  scoredUrl = URL.createObjectURL(new Blob([`${lines.join("\n")}\n`], { type: "text/csv" }));
  const outside = predictions.filter((p) => p.out_of_domain).length;
  const mean = predictions.reduce((sum, p) => sum + p.predicted_MedHouseVal, 0) / predictions.length;
  const name = file.name.replace(/\.csv$/i, "") + "_scored.csv";
  show(result,
    el("div", { class: "notice ok", id: "scored" },
      el("strong", {}, `${predictions.length} rows scored`),
      ` by ${answer.model_name} version ${answer.model_version}; mean prediction ${dollars(mean)}; `,
      `${outside} row(s) outside the training domain.`),
    el("div", { class: "actions" },
      el("a", { class: "button", id: "download", href: scoredUrl, download: name }, `Download ${name}`)),
    el("h3", {}, predictions.length > 20 ? "First 20 rows" : "Rows"),
    el("div", { class: "scroll" }, el("table", { id: "preview" },
      el("thead", {}, el("tr", {}, el("th", { class: "num" }, "Row"), features.map((f) => el("th", { class: "num" }, f)),
        el("th", { class: "num" }, "Predicted"), el("th", {}, "Training domain"))),
      el("tbody", {}, predictions.slice(0, 20).map((p, i) => el("tr", {},
        el("td", { class: "num" }, i + 1),
        features.map((f) => el("td", { class: "num" }, rows[i][f])),
        el("td", { class: "num" }, dollars(p.predicted_MedHouseVal)),
        el("td", {}, p.out_of_domain ? `outside (needs ${p.domain_violations.map(ruleText).join(" and ")})` : "inside")))))),
  );
}

function template(config) {
  const header = features.join(",");
  const example = config.features.map((f) => f.default).join(",");
  return URL.createObjectURL(new Blob([`${header}\n${example}\n`], { type: "text/csv" }));
}

async function main() {
  const start = await startPage();
  if (!start) return;
  const { page, config } = start;
  features = config.features.map((f) => f.name);
  const input = el("input", { type: "file", id: "csv-file", accept: ".csv,text/csv" });
  input.addEventListener("change", () => {
    if (input.files.length) score(input.files[0]).catch((error) => show(document.getElementById("result"), errorNotice(error)));
  });
  show(page,
    el("section", { class: "card" },
      el("h3", {}, "CSV file"),
      el("p", {}, "A header line naming the 8 columns ", el("code", {}, features.join(", ")),
        ", then one block group per line. Other columns are kept in the download but not sent. All rows are checked first: if any row is invalid, nothing is scored."),
      el("div", { class: "actions" },
        el("label", { for: "csv-file" }, "File: "), input,
        el("a", { class: "button secondary", href: template(config), download: "template.csv" }, "Template CSV"))),
    el("section", { class: "card", id: "result", "aria-live": "polite" },
      el("p", { class: "muted" }, "Choose a file to score it.")),
  );
}

main();
