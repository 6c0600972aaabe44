// Monitoring page: the latest decision (GET /monitoring/latest), prediction volume over time
// (counts from GET /predictions?since=&until=) and the recent predictions, paged.
import {
  ApiError, api, dollars, el, errorNotice, fixed, show, startPage, svg, when,
  withCode,
} from "./common.js";

const PAGE_SIZE = 20;
const WINDOWS = {
  hour: { label: "last hour", buckets: 12, minutes: 5 },
  day: { label: "last 24 hours", buckets: 24, minutes: 60 },
  week: { label: "last 7 days", buckets: 28, minutes: 360 },
};
let features = [];
let offset = 0;

function statusBadge(decision) {
  const status = decision.status || (decision.retrain ? "retrain" : "ok");
  const kind = status === "retrain" ? "retrain" : status === "ok" ? "ok" : "other";
  const words = {
    retrain: "Retraining advised", ok: "No action needed",
    too_few_rows: "Too few rows to judge", nothing_to_monitor: "Nothing to monitor",
  };
  return el("span", { class: `badge ${kind}`, id: "decision-status" }, words[status] || status);
}

function driftTable(drift) {
  const entries = Object.entries(drift || {});
  if (!entries.length) return el("p", { class: "muted" }, "No drift statistics in this decision.");
  return el("div", { class: "scroll" }, el("table", { id: "drift" },
    el("thead", {}, el("tr", {}, ["Variable", "PSI", "KS statistic", "KS p-value", "Mean (reference)", "Mean (live)", "Live rows", "Drifted"]
      .map((title, i) => el("th", { class: i && i < 7 ? "num" : null }, title)))),
    el("tbody", {}, entries.map(([name, row]) => el(
      "tr", { class: row.drifted ? "drifted" : null },
      el("td", {}, name),
      el("td", { class: "num" }, fixed(row.psi, 3)),
      el("td", { class: "num" }, fixed(row.ks_statistic, 3)),
      el("td", { class: "num" }, fixed(row.ks_pvalue, 4)),
      el("td", { class: "num" }, fixed(row.reference_mean, 3)),
      el("td", { class: "num" }, fixed(row.current_mean, 3)),
      el("td", { class: "num" }, row.current_rows ?? ""),
      el("td", {}, row.assessed === false ? "not assessed (too few rows)" : row.drifted ? "yes" : "no"),
    )))));
}

function liveError(live) {
  if (!live || !live.assessed) {
    const rows = live ? live.rows : 0;
    return el("p", { class: "muted", id: "live-error" },
      `Not assessed: ${rows ?? 0} prediction(s) of the served version have feedback${live && live.min_rows ? ` (at least ${live.min_rows} needed)` : ""}.`);
  }
  return el("dl", { class: "facts", id: "live-error" },
    el("dt", {}, "Rows with feedback at test places"), el("dd", {}, live.rows),
    el("dt", {}, "Live RMSE"), el("dd", {}, fixed(live.rmse, 4)),
    el("dt", {}, "RMSE at promotion"), el("dd", {}, fixed(live.reference_rmse, 4)),
    el("dt", {}, "Change"), el("dd", {}, live.rmse_change === null || live.rmse_change === undefined
      ? "n/a" : `${live.rmse_change >= 0 ? "+" : ""}${(live.rmse_change * 100).toFixed(1)} %`),
    el("dt", {}, "Live MAE"), el("dd", {}, fixed(live.mae, 4)));
}

function decisionCard(decision) {
  const drifted = Object.entries(decision.drift || {}).filter(([, row]) => row.drifted).map(([name]) => name);
  const window = decision.window || {};
  return el(
    "section", { class: "card", id: "decision" },
    el("h3", {}, "Latest monitoring decision ", statusBadge(decision)),
    el("p", { class: "muted" }, `Decided ${when(decision.created_at || decision.written_at)} over predictions from ${when(window.since) || "?"} to ${when(window.until) || "?"} (${window.rows ?? "?"} rows).`),
    el("ul", { id: "reasons" }, (decision.reasons || []).map((reason) => el("li", {}, reason))),
    el("dl", { class: "facts" },
      el("dt", {}, "Drifted"), el("dd", { id: "drifted" }, drifted.length ? drifted.join(", ") : "none"),
      el("dt", {}, "Out-of-domain rate"), el("dd", {}, decision.ood_rate === null || decision.ood_rate === undefined
        ? "n/a" : `${(decision.ood_rate * 100).toFixed(1)} %`)),
    el("h3", { style: "margin-top:1rem" }, "Live error"), liveError(decision.live_error),
    el("h3", { style: "margin-top:1rem" }, "Drift per variable"), driftTable(decision.drift),
  );
}

async function volume(target, key) {
  const spec = WINDOWS[key];
  const step = spec.minutes * 60 * 1000;
  const end = Math.ceil(Date.now() / step) * step;
  const edges = Array.from({ length: spec.buckets + 1 }, (_, i) => end - (spec.buckets - i) * step);
  const counts = await Promise.all(edges.slice(0, -1).map(async (since, i) => {
    const query = new URLSearchParams({
      limit: "1", since: new Date(since).toISOString(), until: new Date(edges[i + 1]).toISOString(),
    });
    return (await api(`/predictions?${query}`)).total;
  }));
  const width = 1000;
  const height = 190;
  const pad = { left: 40, right: 10, top: 12, bottom: 26 };
  const top = Math.max(1, ...counts);
  const barWidth = (width - pad.left - pad.right) / counts.length;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", id: "volume-chart",
    "aria-label": `Predictions per ${spec.minutes} minutes over the ${spec.label}`,
  });
  const y = (v) => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);
  chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), stroke: "#9fb3c8" }));
  chart.append(svg("text", { x: pad.left - 6, y: y(top) + 4, "text-anchor": "end", "font-size": 10, fill: "#5b6b7c" }, String(top)));
  chart.append(svg("text", { x: pad.left - 6, y: y(0) + 4, "text-anchor": "end", "font-size": 10, fill: "#5b6b7c" }, "0"));
  counts.forEach((count, i) => {
    const bar = svg("rect", {
      x: pad.left + i * barWidth + 1, y: y(count), width: Math.max(barWidth - 2, 1),
      height: y(0) - y(count), fill: "#1f6feb", "data-count": count,
    });
    bar.append(svg("title", {}, `${new Date(edges[i]).toISOString().slice(0, 16).replace("T", " ")} UTC: ${count} predictions`));
    chart.append(bar);
  });
  for (const i of [0, Math.floor(counts.length / 2), counts.length]) {
    const label = new Date(edges[i]).toISOString().slice(key === "week" ? 5 : 11, 16).replace("T", " ");
    chart.append(svg("text", { x: pad.left + i * barWidth, y: height - 8, "text-anchor": i === 0 ? "start" : i === counts.length ? "end" : "middle", "font-size": 10, fill: "#5b6b7c" }, label));
  }
  const total = counts.reduce((a, b) => a + b, 0);
  show(target, chart, el("p", { class: "muted", id: "volume-total" },
    `${total} predictions over the ${spec.label} (bars of ${spec.minutes >= 60 ? `${spec.minutes / 60} h` : `${spec.minutes} min`}, times in UTC).`));
}

async function recent(target) {
  const page = await api(`/predictions?limit=${PAGE_SIZE}&offset=${offset}`);
  if (!page.total) {
    show(target, el("p", { class: "muted", id: "no-predictions" },
      "No predictions logged yet: the Predict and Batch pages (or POST /predict) add some."));
    return;
  }
  const last = Math.min(offset + page.items.length, page.total);
  const previous = el("button", { class: "secondary", disabled: offset === 0 }, "Newer");
  const next = el("button", { class: "secondary", disabled: last >= page.total }, "Older");
  previous.addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); recent(target).catch((e) => show(target, errorNotice(e))); });
  next.addEventListener("click", () => { offset += PAGE_SIZE; recent(target).catch((e) => show(target, errorNotice(e))); });
  show(target,
    el("div", { class: "scroll" }, el("table", { id: "predictions", class: "compact" },
      el("thead", {}, el("tr", {}, el("th", {}, "When (UTC)"), el("th", { class: "num" }, "Version"),
        features.map((f) => el("th", { class: "num" }, f)), el("th", { class: "num" }, "Predicted"),
        el("th", { class: "num" }, "Observed"), el("th", {}, "Domain"))),
      el("tbody", {}, page.items.map((item) => el("tr", {},
        el("td", {}, when(item.created_at).replace(" UTC", "")),
        el("td", { class: "num" }, item.model_version),
        features.map((f) => el("td", { class: "num" }, Number(fixed(item[f], 3)))),
        el("td", { class: "num" }, dollars(item.predicted_MedHouseVal)),
        el("td", { class: "num" }, item.MedHouseVal === null || item.MedHouseVal === undefined ? "" : dollars(item.MedHouseVal)),
        el("td", {}, item.out_of_domain ? "outside" : "inside")))))),
    el("div", { class: "pager" }, previous, next,
      el("span", { class: "muted", id: "page-info" }, `predictions ${offset + 1}–${last} of ${page.total}, newest first`)),
  );
}

async function main() {
  const start = await startPage();
  if (!start) return;
  const { page, config } = start;
  features = config.features.map((f) => f.name);
  const decisionSlot = el("div", {});
  const chartSlot = el("div", {}, el("p", { class: "muted" }, "Counting…"));
  const tableSlot = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  const choice = el("select", { id: "volume-window", "aria-label": "Volume window" },
    Object.entries(WINDOWS).map(([key, spec]) => el("option", { value: key, selected: key === "day" }, spec.label)));
  choice.addEventListener("change", () => volume(chartSlot, choice.value).catch((e) => show(chartSlot, errorNotice(e))));
  show(page,
    decisionSlot,
    el("section", { class: "card" }, el("h3", {}, "Prediction volume ", choice), chartSlot),
    el("section", { class: "card" }, el("h3", {}, "Recent predictions"), tableSlot));
  await Promise.all([
    api("/monitoring/latest").then(
      (decision) => show(decisionSlot, decisionCard(decision)),
      (error) => show(decisionSlot, error instanceof ApiError && error.status === 404
        ? el("section", { class: "card", id: "decision" }, el("h3", {}, "Latest monitoring decision"),
          el("div", { class: "notice warn", "data-kind": "no-decision" }, withCode(error.detail)))
        : errorNotice(error)),
    ),
    volume(chartSlot, "day").catch((error) => show(chartSlot, errorNotice(error))),
    recent(tableSlot).catch((error) => show(tableSlot, errorNotice(error))),
  ]);
}

main();
