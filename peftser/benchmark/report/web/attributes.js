"use strict";
// The leaderboard page's attribute part: the attribute tasks (arousal, valence, dominance), scored by
// CCC in sections of their own after the UAR ones and never in a UAR table. It lays out
// leaderboard.json's `attributes` (mean ± std CCC per group, the mean CCC over the tasks, the paired
// comparisons with the baseline, the transfer matrices and the noise curves) and the drill-down of each
// attribute training (CCC, r and RMSE per dimension on test and dev, dev mean CCC per epoch). Like the
// rest of the page it computes no number and inserts every string as text. leaderboard.js calls it with
// its own helpers, where the attribute sections go.
window.peftserAttributes = ({ board, page, section, groupColumns, groupRow, overallTable, pairedSection, heatmaps,
  noiseCharts, legend, openColumn, showCell, trainingArticle, historyFigure, costColumns }) => {
  const { el, fmt, count, unique, key, table } = window.peftserBlocks;
  const rated = board.attributes;
  if (!rated) return;
  const DIGITS = 3;  // CCC, r and RMSE, as leaderboard.md shows them
  const METRICS = [["ccc", "CCC"], ["r", "r"], ["rmse", "RMSE"]];
  const groups = rated.groups || [];
  const cells = new Map((page.attribute_cells || []).map((c) => [key(c.upstream, c.variant, c.task), c]));
  // The dimensions in the order the groups name them ("ccc:arousal", ...): a task may rate fewer.
  const dims = unique(groups.flatMap((g) => Object.keys(g).filter((k) => k.startsWith("ccc:")).map((k) => k.slice(4))));
  const meanStd = (v) => (v ? `${fmt(v.mean, DIGITS)} ± ${fmt(v.std, DIGITS)}` : "–");
  const column = (title, name) => ({ title, value: (g) => g[name]?.mean, text: (g) => meanStd(g[name]) });

  const r = rated.records || {};
  document.getElementById("summary").append(` Attribute tasks: ${r.ok} ok, ${r.failed} failed, ${r.missing} expected `,
    `training(s) without a record; ${rated.metrics}.`);

  section("attributes", "Emotional attributes (CCC)",
    el("p", {}, "Test CCC (concordance correlation coefficient) of the attribute tasks, at the epoch with the best mean dev ",
      "CCC; RMSE on each corpus' own rating scale. These numbers are never averaged with any UAR table."),
    (rated.overall || []).length > 0 && [el("h3", {}, "Mean CCC over the attribute tasks"),
      el("p", {}, "Each task's mean test CCC (over its dimensions and trainings), and their mean ± std over the tasks."),
      overallTable(rated.overall, DIGITS)],
    el("h3", {}, "CCC per task"),
    el("p", {}, "Mean ± std over each group's trainings. Sort by any column (by the mean); open a row for its trainings."),
    table([...groupColumns, column("Mean CCC", "mean_ccc"), ...dims.map((d) => column(`CCC ${d}`, `ccc:${d}`)),
      ...dims.map((d) => column(`RMSE ${d}`, `rmse:${d}`)), openColumn(cells, openCell)], groups, groupRow, DIGITS));

  pairedSection("attributes-paired", "Emotional attributes: method vs baseline (paired CCC)",
    [...(rated.paired || []), ...(rated.paired_evaluations || [])], rated.statistics, { digits: DIGITS, unit: "CCC units" });

  if ((rated.cross_corpus || []).length) {
    section("attributes-cross-corpus", "Emotional attributes: cross-corpus transfer (mean CCC, beyond the paper)",
      el("p", {}, "Mean test CCC, over the dimensions both tasks rate, of the trainings on the row's task tested on the ",
        "column's (its predictions mapped onto that corpus' scale); the outlined diagonal is the in-corpus test mean CCC. ",
        "Darker is higher."),
      heatmaps(rated.cross_corpus, "mean_ccc", groups.map((g) => g.task), DIGITS));
  }
  if ((rated.noise || []).length) {
    section("attributes-noise", "Emotional attributes: noise robustness (mean CCC, beyond the paper)",
      el("p", {}, "Mean test CCC over the trainings, clean and at each signal-to-noise ratio; hover a point for its value."),
      legend(unique(rated.noise.map((e) => e.variant))), noiseCharts(rated.noise, "mean_ccc", "test mean CCC", DIGITS));
  }

  // -- the drill-down of an attribute group ------------------------------------------------------------
  function openCell(c) {
    const g = groups.find((x) => x.upstream === c.upstream && x.variant === c.variant && x.task === c.task);
    const own = unique(c.trainings.flatMap((t) => t.classes));
    showCell(c, [
      g && el("p", {}, `Test mean CCC ${meanStd(g.mean_ccc)} over ${g.trainings} of ${g.expected} expected trainings.`),
      c.trainings.length > 0 && table([
        { title: "Training", value: (t) => t.training },
        { title: "Test mean CCC", value: (t) => t.test?.mean_ccc },
        ...own.map((d) => ({ title: `CCC ${d}`, value: (t) => t.test?.ccc[d] })),
        { title: "Dev mean CCC", value: (t) => t.dev?.mean_ccc },
        ...costColumns,
      ], c.trainings, (t) => ({ "data-training": t.training }), DIGITS)], c.trainings.map(trainingDetail));
  }
  function trainingDetail(t) {
    return trainingArticle(t, [
      el("figure", {}, el("figcaption", {}, "CCC, r and RMSE per dimension"), dimensionTable(t)),
      historyFigure(t, "mean CCC", "mean CCC", DIGITS),
    ], [["Test", splitText(t.test)], ["Dev", splitText(t.dev)]], "mean CCC", DIGITS);
  }
  /** A row per dimension (and the mean CCC), a column per metric and split. */
  function dimensionTable(t) {
    const splits = [["test", t.test], ["dev", t.dev]];
    const td = (split, metric, v) => el("td", { class: "num", "data-split": split, "data-metric": metric, "data-value": v ?? "" },
      fmt(v, DIGITS));
    return el("table", { class: "dimensions" },
      el("thead", {}, el("tr", {}, el("th", {}, "dimension"),
        METRICS.flatMap(([, title]) => splits.map(([split]) => el("th", { scope: "col" }, `${title} ${split}`))))),
      el("tbody", {}, t.classes.map((d) => el("tr", { "data-dimension": d }, el("th", { scope: "row" }, d),
        METRICS.flatMap(([metric]) => splits.map(([split, m]) => td(split, metric, m?.[metric]?.[d]))))),
      el("tr", {}, el("th", { scope: "row" }, "mean CCC"), splits.map(([split, m]) => td(split, "mean_ccc", m?.mean_ccc)))));
  }
  function splitText(m) {
    const gaps = Object.entries(m?.ccc_gap || {}).map(([d, v]) => `${d} ${fmt(v, DIGITS)}`).join(", ");
    return m && `mean CCC ${fmt(m.mean_ccc, DIGITS)}${gaps && `; CCC gap |female − male|: ${gaps}`} (${count(m.n)} utterances)`;
  }
};
