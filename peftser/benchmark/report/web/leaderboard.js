"use strict";
// The leaderboard page. It lays out the two JSON blocks written with it (leaderboard.json's text and
// the drill-down per (upstream, method, task) from the records) and computes no number of its own.
// Strings from the data only ever enter the page as text (Node.append, textContent) or as attribute
// values (setAttribute), never as markup. Its building blocks are blocks.js's; the attribute tasks'
// sections are attributes.js's, called with this file's helpers in their place among the sections.
(() => {
  const { el, isNum, fmt, fmtP, count, unique, groupBy, key, table, lineChart, ciBar } = window.peftserBlocks;
  const board = JSON.parse(document.getElementById("leaderboard-data").textContent);
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const FILTERS = ["upstream", "method", "task"];
  const CLEAN = "clean";  // the noise condition without noise
  const groups = board.groups || [];
  const everyGroup = [...groups, ...(board.attributes?.groups || [])];  // the filters' and colours' (UAR first)
  const methodOf = new Map(everyGroup.map((g) => [g.variant, g.method]));
  const variants = unique(everyGroup.map((g) => g.variant));  // in the leaderboard's order: one colour each
  const cells = new Map(page.cells.map((c) => [key(c.upstream, c.variant, c.task), c]));

  // -- filters ---------------------------------------------------------------------------------------
  /** The filter attributes of a row or a figure (a missing one is not filtered on). */
  function where(upstream, variant, task) {
    const method = variant === undefined ? undefined : methodOf.get(variant) ?? variant;
    return { "data-upstream": upstream, "data-method": method, "data-task": task };
  }
  function setUpFilters() {
    for (const name of FILTERS) {
      const select = document.getElementById(`filter-${name}`);
      select.append(...unique(everyGroup.map((g) => g[name])).map((v) => el("option", { value: v }, v)));
      select.addEventListener("change", applyFilters);
    }
  }
  function applyFilters() {
    const chosen = FILTERS.map((name) => [name, document.getElementById(`filter-${name}`).value]).filter(([, v]) => v);
    for (const node of document.querySelectorAll("main [data-upstream], main [data-method], main [data-task]")) {
      node.classList.toggle("filtered", chosen.some(([name, v]) => node.dataset[name] !== undefined && node.dataset[name] !== v));
    }
  }
  /** Each method's colour, as the noise curves draw it. */
  function legend(names) {
    return el("p", { class: "legend" }, names.map((v) => el("span", { ...where(undefined, v) },
      el("span", { class: `swatch c${variants.indexOf(v) % 8}` }), v)));
  }

  // -- sections --------------------------------------------------------------------------------------
  function section(id, title, ...content) {
    document.getElementById("main").append(el("section", { id }, el("h2", {}, title), content));
    document.getElementById("contents").append(el("a", { href: `#${id}` }, title));
  }
  const groupColumns = [
    { title: "Task", value: (g) => g.task },
    { title: "Backbone", value: (g) => g.upstream },
    { title: "Method", value: (g) => g.variant },
    { title: "Trainings", value: (g) => g.trainings, text: (g) => `${g.trainings}/${g.expected}` },
  ];
  const groupRow = (g) => where(g.upstream, g.variant, g.task);

  function summary() {
    const r = board.records;
    document.title = page.title;
    document.getElementById("title").textContent = page.title;
    // A board of attribute tasks only has no UAR record to count; attributes.js says what it has.
    const uar = groups.length > 0 || r.unreadable > 0 || !board.attributes;
    document.getElementById("summary").append(uar
      ? `Regenerated from the run records: ${r.ok} ok, ${r.failed} failed, ${r.unreadable} unreadable; ${r.missing} `
        + `expected training(s) without a record. ${page.expected_rule} All metrics: ${board.metrics}.`
      : `Regenerated from the run records. ${page.expected_rule}`);
  }

  function overallSection() {
    const families = groupBy(board.overall || [], (row) => row.family);
    if (!families.size) return;
    section("overall", "Overall UAR (Table V analogue)",
      el("p", {}, "Mean ± std over the corpora of each corpus' mean test UAR; † some corpus has fewer trainings than expected."),
      [...families].map(([family, rows]) => [el("h3", {}, family), overallTable(rows)]));
  }
  /** Per backbone and method: each corpus' mean, and their mean ± std (rows of leaderboard.json's overall shape). */
  function overallTable(rows, digits = 2) {
    return table([
      { title: "Backbone", value: (o) => o.upstream },
      { title: "Method", value: (o) => o.variant },
      ...rows[0].corpora.map((c) => ({ title: c, value: (o) => o.corpus_means[c] })),
      { title: "Mean", value: (o) => o.mean, text: (o) => (o.complete ? fmt(o.mean, digits) + (o.partial ? " †" : "") : "incomplete") },
      { title: "Std", value: (o) => o.std },
    ], rows, (o) => where(o.upstream, o.variant), digits);
  }

  function inCorpusSection() {
    if (!groups.length) return;
    section("in-corpus", "UAR per corpus",
      el("p", {}, "Mean ± std test UAR over each group's trainings. Sort by any column; open a row for its trainings."),
      table([...groupColumns,
        { title: "UAR mean", value: (g) => g.uar?.mean },
        { title: "UAR std", value: (g) => g.uar?.std },
        openColumn(cells, openCell),
      ], groups, groupRow));
  }

  function fairnessSection() {
    if (!groups.some((g) => isNum(g.demographic_parity))) return;
    section("fairness", "Fairness by gender (Table VI analogue)",
      el("p", {}, "Mean demographic parity and equality of odds over the trainings where both are defined; lower is fairer."),
      table([...groupColumns,
        { title: "Demographic parity", value: (g) => g.demographic_parity },
        { title: "Equality of odds", value: (g) => g.equality_of_odds },
      ], groups, groupRow));
  }

  /** Paired tables under the statistics `s`; effects and CIs shown with `digits` decimals (in `unit`, when given). */
  function pairedSection(id, title, tables, s = {}, { digits = 2, unit = "" } = {}) {
    if (!tables.length) return;
    section(id, title,
      el("p", {}, `Each method minus the baseline ${board.baseline} on the same backbone, paired by training: the effect `,
        `${unit && `(${unit}) `}with its ${fmt(100 * s.level, 0)}% bootstrap confidence interval (${count(s.resamples)} resamples), `,
        `the sign-flip p and Holm's correction across each table (α = ${s.alpha}). `,
        "A filled bar is significantly better (green) or worse (red) than the baseline."),
      tables.map((t) => pairedTable(t, digits)));
  }
  function pairedTable(t, digits) {
    const ends = t.comparisons.flatMap((c) => c.ci || []).concat(0);
    const scale = [Math.min(...ends), Math.max(...ends)];
    return [el("h3", {}, `${t.title} (Holm over ${t.holm_tests} tests)`), table([
      { title: "Backbone", value: (c) => c.method.upstream },
      { title: "Method", value: (c) => c.method.variant },
      { title: "Metric", value: (c) => c.metric },
      { title: "Scope", value: (c) => c.scope },
      { title: "Effect", value: (c) => c.effect },
      { title: "CI", value: (c) => c.ci?.[0], text: (c) => (c.ci ? `[${fmt(c.ci[0], digits)}, ${fmt(c.ci[1], digits)}]` : "–") },
      { title: "Effect and CI", value: (c) => c.effect, text: (c) => ciBar(c, scale) },
      { title: "p", value: (c) => c.p, text: (c) => fmtP(c.p) },
      { title: "p (Holm)", value: (c) => c.p_holm, text: (c) => fmtP(c.p_holm) },
      { title: "Paired units", value: (c) => c.paired_units,
        text: (c) => `${c.paired_units}` + (unmatched(c) ? ` (${unmatched(c)} unmatched)` : "") },
    ], t.comparisons, (c) => where(c.method.upstream, c.method.variant, c.corpora.length === 1 ? c.corpora[0] : undefined), digits)];
  }

  const unmatched = (c) => c.unmatched.method_only.length + c.unmatched.baseline_only.length;

  function costSection() {
    if (!(board.cost || []).length) return;
    section("cost", "Cost per backbone and method",
      el("p", {}, "Device-hours summed over the trainings; medians of peak memory, training throughput, share of the ",
        "hardware bound and artifact size; (k of n) when only k trainings have the figure."),
      table([
        { title: "Backbone", value: (c) => c.upstream },
        { title: "Method", value: (c) => c.variant },
        { title: "Trainings", value: (c) => c.trainings, text: (c) => count(c.trainings) },
        { title: "Devices", value: (c) => c.devices.join(", ") },
        { title: "Device-hours", value: (c) => c.device_hours, text: (c) => of(fmt(c.device_hours, 4), c.device_hours_trainings, c.trainings) },
        { title: "Peak memory (MB)", value: (c) => c.median_peak_memory_mb, text: (c) => of(fmt(c.median_peak_memory_mb, 1), c.peak_memory_trainings, c.trainings) },
        { title: "Clips/s", value: (c) => c.median_train_clips_per_s, text: (c) => of(fmt(c.median_train_clips_per_s, 1), c.throughput_trainings, c.trainings) },
        { title: "Share of bound", value: (c) => c.median_share_of_bound, text: (c) => fmt(c.median_share_of_bound, 3) },
        { title: "Trainable params", value: (c) => c.trainable_params.min,
          text: (c) => (c.trainable_params.min === c.trainable_params.max ? count(c.trainable_params.min) : `${count(c.trainable_params.min)}–${count(c.trainable_params.max)}`) },
        { title: "Artifact bytes", value: (c) => c.median_artifact_bytes, text: (c) => of(count(c.median_artifact_bytes), c.artifact_trainings, c.trainings) },
      ], board.cost, (c) => where(c.upstream, c.variant)));
  }
  const of = (text, k, n) => (text !== "–" && k < n ? `${text} (${k} of ${n})` : text);

  function crossCorpusSection() {
    if (!(board.cross_corpus || []).length) return;
    section("cross-corpus", "Cross-corpus transfer (beyond the paper)",
      el("p", {}, "Mean test UAR of the trainings on the row's corpus, tested on the column's; the outlined diagonal is the in-corpus test UAR. Darker is higher."),
      heatmaps(board.cross_corpus, "uar", groups.map((g) => g.task)));
  }
  /** One train x test matrix per backbone and method of the entries' `metric` ({mean, std}), corpora in `order` first. */
  function heatmaps(entries, metric, order, digits = 2) {
    const present = new Set(entries.flatMap((e) => [e.train_task, e.test_task]));
    const corpora = unique([...order, ...present]).filter((t) => present.has(t));
    const values = entries.map((e) => e[metric]?.mean).filter(isNum);
    const range = [Math.min(...values), Math.max(...values)];
    return el("div", { class: "figures" }, [...groupBy(entries, (e) => key(e.upstream, e.variant)).values()].map((list) => {
      const at = new Map(list.map((e) => [key(e.train_task, e.test_task), e]));
      return el("figure", { class: "heatmap", ...where(list[0].upstream, list[0].variant) },
        el("figcaption", {}, `${list[0].upstream} / ${list[0].variant}`),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "train \\ test"), corpora.map((c) => el("th", { scope: "col" }, c)))),
          el("tbody", {}, corpora.map((train) => el("tr", {}, el("th", { scope: "row" }, train),
            corpora.map((test) => heatCell(at.get(key(train, test)), range, metric, digits)))))));
    }));
  }
  function heatCell(entry, [lo, hi], metric, digits) {
    if (!entry || !entry[metric]) return el("td", { class: "empty" }, "–");
    const v = entry[metric].mean, share = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    const td = el("td", { class: `num${entry.in_corpus ? " diag" : ""}${share > 0.6 ? " dark" : ""}`, "data-value": v,
      title: `${fmt(v, digits)} ± ${fmt(entry[metric].std, digits)} over ${entry.trainings} training(s)` }, fmt(v, digits));
    td.style.backgroundColor = `hsl(210, 65%, ${Math.round(96 - 52 * share)}%)`;
    return td;
  }

  function noiseSection() {
    const entries = board.noise || [];
    if (!entries.length) return;
    section("noise", "Noise robustness (beyond the paper)",
      el("p", {}, "Mean test UAR over the trainings, clean and at each signal-to-noise ratio; hover a point for its value."),
      legend(unique(entries.map((e) => e.variant))), noiseCharts(entries, "uar", "test UAR %"));
  }
  /** Per backbone, training corpus and noise: the entries' `metric` means, clean then at each SNR, a line per method. */
  function noiseCharts(entries, metric, yTitle, digits = 2) {
    const values = entries.map((e) => e[metric]?.mean).filter(isNum);
    const range = [Math.min(...values), Math.max(...values)];
    const mean = (list, test) => list.find(test)?.[metric]?.mean ?? null;
    const charts = [];
    for (const list of groupBy(entries, (e) => key(e.upstream, e.train_task)).values()) {
      for (const noise of unique(list.map((e) => e.noise).filter((n) => n !== CLEAN))) {
        const levels = unique(list.filter((e) => e.noise === noise).map((e) => e.snr_db));  // high SNR first
        const series = unique(list.map((e) => e.variant)).map((variant) => ({
          name: variant, method: methodOf.get(variant) ?? variant, color: variants.indexOf(variant),
          values: [mean(list, (e) => e.variant === variant && e.noise === CLEAN),
            ...levels.map((snr) => mean(list, (e) => e.variant === variant && e.noise === noise && e.snr_db === snr))],
        }));
        charts.push(el("figure", { class: "chart", ...where(list[0].upstream, undefined, list[0].train_task) },
          el("figcaption", {}, `${list[0].upstream} on ${list[0].train_task}, ${noise}`),
          lineChart([CLEAN, ...levels.map((snr) => `${snr} dB`)], series, range, { yTitle, digits })));
      }
    }
    return el("div", { class: "figures" }, charts);
  }

  function plotsSection() {
    if (!page.plots.length) return;
    section("plots", "Plots", el("div", { class: "figures" }, page.plots.map((name) =>
      el("figure", {}, el("a", { href: name }, el("img", { src: name, alt: name, loading: "lazy" })), el("figcaption", {}, name)))));
  }

  function notesSection() {
    section("notes", "Deviations, notes and problems",
      el("h3", {}, "Footnotes: deviations from the paper"),
      page.footnotes.length ? el("ol", { class: "footnotes" }, page.footnotes.map((n) => el("li", {}, n))) : el("p", {}, "None."),
      el("h3", {}, "Missing, failed and unreadable records"),
      el("pre", { class: "lines" }, page.problems.join("\n")));
  }

  // -- the drill-down --------------------------------------------------------------------------------
  /** The column of a group table whose button opens the group's cell (of `cellsOf`) with `open`. */
  function openColumn(cellsOf, open) {
    return { title: "Trainings' details", value: () => "", text: (g) => {
      const button = el("button", { type: "button", class: "open" }, "open");
      button.addEventListener("click", () => open(cellsOf.get(key(g.upstream, g.variant, g.task))));
      return button;
    } };
  }
  /** The dialog on one cell: its title, `overview`, its failed and missing trainings, then `details`. */
  function showCell(c, overview, details) {
    document.getElementById("cell-body").replaceChildren(el("div", {},
      el("h2", { id: "cell-title" }, `${c.upstream} / ${c.variant} / ${c.task}`), overview,
      c.failed.length > 0 && [el("h3", {}, "Failed"), el("ul", {}, c.failed.map((f) => el("li", {}, `${f.training} (key ${f.key}): ${f.error}`)))],
      c.missing.length > 0 && el("p", {}, `Missing (no record): ${c.missing.join(", ")}.`), details));
    const dialog = document.getElementById("cell");
    if (!dialog.open) dialog.showModal();
  }
  function openCell(c) {
    const g = groups.find((x) => x.upstream === c.upstream && x.variant === c.variant && x.task === c.task);
    showCell(c, [
      g && el("p", {}, `Test UAR ${fmt(g.uar?.mean)} ± ${fmt(g.uar?.std)} over ${g.trainings} of ${g.expected} expected trainings.`),
      c.trainings.length > 0 && table([
        { title: "Training", value: (t) => t.training },
        ...[["Test UAR", "uar"], ["Acc", "acc"], ["Macro F1", "macro_f1"], ["DP", "demographic_parity"], ["EO", "equality_of_odds"]]
          .map(([title, name]) => ({ title, value: (t) => t.test?.[name] })),
        { title: "Dev UAR", value: (t) => t.dev?.uar },
        ...costColumns,
      ], c.trainings, (t) => ({ "data-training": t.training }))], c.trainings.map(trainingDetail));
  }
  const costColumns = [
    { title: "Best epoch", value: (t) => t.best_epoch, text: (t) => count(t.best_epoch) },
    { title: "Wall time (s)", value: (t) => t.cost?.wall_time_s, text: (t) => fmt(t.cost?.wall_time_s, 1) },
    { title: "Peak memory (MB)", value: (t) => t.cost?.peak_memory_mb, text: (t) => fmt(t.cost?.peak_memory_mb, 1) },
    { title: "Trainable params", value: (t) => t.cost?.trainable_params, text: (t) => count(t.cost?.trainable_params) },
  ];
  function trainingDetail(t) {
    return trainingArticle(t, [
      el("figure", {}, el("figcaption", {}, "Test confusion matrix"), confusion(t.test, t.classes, "test")),
      el("figure", {}, el("figcaption", {}, "Dev confusion matrix"), confusion(t.dev, t.classes, "dev")),
      historyFigure(t, "UAR", "UAR %"),
    ], [["Test", metricsText(t.test)], ["Dev", metricsText(t.dev)]], "UAR");
  }
  /** A training of a drill-down: its figures, then `facts` and what its record says of everything else. */
  function trainingArticle(t, figures, facts, metric, digits = 2) {
    const score = (v) => fmt(v, digits);
    const all = [...facts,
      ["Cost", t.cost && `${fmt(t.cost.wall_time_s, 1)} s on ${t.cost.device ?? "?"}, peak memory ${fmt(t.cost.peak_memory_mb, 1)} MB, `
        + `${fmt(t.cost.train_clips_per_s, 1)} clips/s, artifact ${count(t.cost.artifact_bytes)} bytes`],
      ["Parameters", `method ${count(t.method_params)}, head ${count(t.head_params)}, upstream ${count(t.upstream_params)}`],
      ["Configuration", JSON.stringify(t.config)],
      ["Deviations", t.deviations.length ? t.deviations.join("; ") : "none"],
      ["Test notes", t.test?.notes.length ? t.test.notes.join("; ") : null],
      ["Skipped audio", Object.keys(t.skipped).length ? JSON.stringify(t.skipped) : null],
      [`Cross-corpus ${metric}`, t.transfer.length ? t.transfer.map(([test, v]) => `${test}: ${score(v)}`).join("; ") : null],
      [`Noise ${metric}`, t.noise.length ? t.noise.map(([n, snr, v]) => `${n}${snr === null ? "" : ` ${snr} dB`}: ${score(v)}`).join("; ") : null],
    ].filter(([, text]) => text);
    return el("article", { class: "training", "data-training": t.training },
      el("h3", {}, `${t.training} (key ${t.key})`), el("div", { class: "figures" }, figures),
      el("dl", {}, all.map(([term, text]) => [el("dt", {}, term), el("dd", {}, text)])));
  }
  /** The dev `metric` per epoch of a training's history, its best epoch ringed. */
  function historyFigure(t, metric, yTitle, digits = 2) {
    const epochs = t.history.map((h) => h[1]).filter(isNum);
    return el("figure", {}, el("figcaption", {}, `Dev ${metric} per epoch (ringed: best epoch ${t.best_epoch})`),
      epochs.length ? lineChart(t.history.map((h) => String(h[0])), [{ name: `dev ${metric}`, color: 0, values: t.history.map((h) => h[1]) }],
        [Math.min(...epochs), Math.max(...epochs)], { mark: t.history.findIndex((h) => h[0] === t.best_epoch), yTitle, digits })
        : el("p", {}, "No history in the record."));
  }
  function metricsText(m) {
    return m && `UAR ${fmt(m.uar)}, accuracy ${fmt(m.acc)}, macro F1 ${fmt(m.macro_f1)}, demographic parity `
      + `${fmt(m.demographic_parity)}, equality of odds ${fmt(m.equality_of_odds)} (${count(m.n)} utterances)`;
  }
  function confusion(m, classes, split) {
    if (!m?.confusion) return el("p", {}, "No confusion matrix in the record.");
    return el("table", { class: "confusion", "data-split": split },
      el("thead", {}, el("tr", {}, el("th", {}, "true \\ predicted"), classes.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, m.confusion.map((row, i) => el("tr", {}, el("th", { scope: "row" }, classes[i]),
        row.map((n, j) => el("td", { class: i === j ? "num diag" : "num" }, count(n)))))));
  }

  summary();
  setUpFilters();
  overallSection();
  inCorpusSection();
  pairedSection("paired", "Method vs baseline (paired)", [...(board.paired?.tables || []), ...(board.paired_evaluations || [])],
    board.paired?.statistics);
  fairnessSection();
  costSection();
  crossCorpusSection();
  noiseSection();
  window.peftserAttributes?.({ board, page, where, section, groupColumns, groupRow, overallTable, pairedSection, heatmaps,
    noiseCharts, legend, openColumn, showCell, trainingArticle, historyFigure, costColumns });
  plotsSection();
  notesSection();
  document.getElementById("cell-close").addEventListener("click", () => document.getElementById("cell").close());
  // What the tests and the timing script wait for: everything above is laid out.
  document.documentElement.dataset.ready = "true";
  performance.mark("data-ready");
})();
