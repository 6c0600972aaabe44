// Model page: the champion's card (GET /model) and the last report (leaderboard, figures).
import {
  ApiError, api, dollars, domainRules, el, errorNotice, fixed, loadConfig, refreshStatus, show,
  when, withCode,
} from "./common.js";

function promotedText(model, promotion) {
  if (!promotion) return "not recorded (no promotion decision in the last report)";
  if (promotion.promote && promotion.run_id === model.run_id) {
    return `${when(promotion.decided_at)}, by the last report (${promotion.reason})`;
  }
  if (!promotion.promote && promotion.current_version === model.version) {
    return `before the last report, which kept it: ${promotion.reason}`;
  }
  return `not by the last report (${when(promotion.decided_at)}), which promoted ${promotion.candidate}: the service may not have switched yet`;
}

function card(model, promotion) {
  const rules = domainRules(model.domain).map((rule) => (rule.startsWith("MedHouseVal")
    ? `${rule} (training rows only: rows to score have no target)` : rule));
  return el(
    "section", { class: "card", id: "champion" },
    el("h3", {}, `${model.name} version ${model.version}`,
      model.alias ? el("span", { class: "badge ok", style: "margin-left:0.6rem" }, `@${model.alias}`) : null),
    el("dl", { class: "facts" },
      el("dt", {}, "Version"), el("dd", { id: "champion-version" }, model.version),
      el("dt", {}, "Candidate"), el("dd", { id: "champion-candidate" }, model.candidate || "unknown"),
      el("dt", {}, "Data version"), el("dd", {}, model.data_version || "unknown"),
      el("dt", {}, "Test RMSE"), el("dd", { id: "champion-rmse" },
        model.population_rmse === null || model.population_rmse === undefined
          ? "not recorded (promoted before the served population was configured)"
          : `${fixed(model.population_rmse, 4)} (≈ ${dollars(model.population_rmse)} typical error, on the test rows of ${model.population || "the served population"})`),
      el("dt", {}, "Common-holdout RMSE"), el("dd", {},
        model.holdout_rmse === null || model.holdout_rmse === undefined
          ? "not recorded" : `${fixed(model.holdout_rmse, 4)} (the test rows every data version contains)`),
      el("dt", {}, "Promoted"), el("dd", {}, promotedText(model, promotion)),
      el("dt", {}, "Loaded by the service"), el("dd", {}, when(model.loaded_at)),
      el("dt", {}, "Training domain"), el("dd", {}, rules.length ? rules.join(", ") : "all rows (no rules)"),
      el("dt", {}, "MLflow run"), el("dd", {}, el("code", {}, model.run_id || "unknown")),
    ),
  );
}

// The leaderboard lists each candidate's latest run. The champion is one of them, or an
// earlier run of one: a later run of its candidate that the promotion gate did not promote
// (a rerun with the same metrics, say). Then that candidate's row stands for it.
function championRow(rows, model) {
  if (!model) return null;
  return rows.find((row) => row.run_id === model.run_id)
    || rows.find((row) => row.candidate === model.candidate)
    || null;
}

function championNote(champion, model) {
  if (!model) return "No champion is served.";
  if (!champion) return `The champion (${model.candidate || "unknown candidate"}) is not on this leaderboard.`;
  if (champion.run_id === model.run_id) return "The champion's row is highlighted.";
  return `The champion is an earlier run of ${model.candidate} than the one listed (highlighted): run ${model.run_id}.`;
}

function leaderboard(report, model) {
  const columns = [
    ["rank", "Rank", (v) => v], ["candidate", "Candidate", (v) => v],
    ["data_version", "Data", (v) => v], ["model_type", "Model", (v) => v],
    ["eligible", "Covers the population", (v) => (v ? "yes" : "no")],
    ["population_rmse", "RMSE", (v) => fixed(v, 4)], ["population_mae", "MAE", (v) => fixed(v, 4)],
    ["population_r2", "R²", (v) => fixed(v, 4)],
    ["holdout_rank", "Holdout rank", (v) => v], ["holdout_rmse", "Holdout RMSE", (v) => fixed(v, 4)],
    ["rmse", "Own-test RMSE", (v) => fixed(v, 4)], ["train_seconds", "Train s", (v) => fixed(v, 2)],
  ];
  const numeric = new Set(["rank", "population_rmse", "population_mae", "population_r2", "holdout_rank", "holdout_rmse", "rmse", "train_seconds"]);
  const champion = championRow(report.leaderboard, model);
  return el(
    "section", { class: "card" },
    el("h3", {}, "Leaderboard of the last report"),
    el("p", { class: "muted", id: "leaderboard-note" }, `Written ${when(report.updated_at)}. Ranked as the promotion gate ranks: candidates whose data version covers the served population first, by their RMSE on its test rows (RMSE, MAE, R²). The holdout columns are the cross-version comparison on the common holdout (the test rows every data version contains). ${championNote(champion, model)}`),
    el("div", { class: "scroll" }, el("table", { id: "leaderboard" },
      el("thead", {}, el("tr", {}, columns.map(([key, title]) => el("th", { class: numeric.has(key) ? "num" : null }, title)))),
      el("tbody", {}, report.leaderboard.map((row) => el(
        "tr", { class: row === champion ? "highlight" : null },
        columns.map(([key, , format]) => el("td", { class: numeric.has(key) ? "num" : null }, format(row[key])))))))),
  );
}

function figures(report) {
  const captions = {
    "champion_error_map.png": "The champion's errors by location on the served population's test rows, metro centres marked.",
    "champion_importances.png": "What the champion relies on: its feature importances.",
    "comparison_overall.png": "Every candidate: the gate's score on the served population (the best eligible in green) next to the common holdout.",
    "comparison_by_version.png": "RMSE by data version: served population, common holdout and each version's own test split.",
    "comparison_by_model.png": "Common-holdout RMSE by model type.",
  };
  return el(
    "section", { class: "card" },
    el("h3", {}, "Figures of the last report"),
    report.figures.length
      ? report.figures.map((figure) => el("figure", {},
        el("img", { src: figure.url, alt: captions[figure.name] || figure.name, loading: "lazy" }),
        el("figcaption", {}, captions[figure.name] || figure.name)))
      : el("p", { class: "muted" }, "The last report has no figures."),
  );
}

async function main() {
  const page = document.getElementById("page");
  await loadConfig().catch(() => null);
  const parts = [];
  const model = await api("/model").catch((error) => {
    parts.push(errorNotice(error));
    return null;
  });
  refreshStatus();
  let report = null;
  try {
    report = await api("/ui/api/report");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      parts.push(el("div", { class: "notice warn", "data-kind": "no-report" }, withCode(error.detail)));
    } else if (model) parts.push(errorNotice(error));
  }
  if (model) parts.push(card(model, report && report.promotion));
  if (report) parts.push(leaderboard(report, model), figures(report));
  show(page, parts);
}

main();
