"use strict";
// The leaderboard page. It lays out the two JSON blocks written with it (leaderboard.json's text and
// the drill-down per (upstream, method, task) from the records) and computes no number of its own.
// Strings from the data only ever enter the page as text (Node.append, textContent) or as attribute
// values (setAttribute), never as markup.
(() => {
  const board = JSON.parse(document.getElementById("leaderboard-data").textContent);
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const FILTERS = ["upstream", "method", "task"];
  const CLEAN = "clean";  // the noise condition without noise
  const groups = board.groups || [];
  const methodOf = new Map(groups.map((g) => [g.variant, g.method]));
  const variants = unique(groups.map((g) => g.variant));  // in the leaderboard's order: one colour each
  const key = (...parts) => JSON.stringify(parts);
  const cells = new Map(page.cells.map((c) => [key(c.upstream, c.variant, c.task), c]));

  // -- building blocks -------------------------------------------------------------------------------
  /** An element: attributes set one by one, children appended (a string becomes a text node). */
  function el(tag, attrs = {}, ...children) {
    const node = attrs.svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name !== "svg" && value !== null && value !== undefined) node.setAttribute(name, value);
    }
    node.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false).map(
      (c) => (c instanceof Node ? c : String(c))));
    return node;
  }
  const svg = (tag, attrs = {}, ...children) => el(tag, { ...attrs, svg: true }, ...children);
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const fmt = (v, digits = 2) => (isNum(v) ? v.toFixed(digits) : "–");
  const fmtP = (p) => (!isNum(p) ? "–" : p < 0.001 ? p.toExponential(1) : p.toFixed(3));
  const count = (v) => (isNum(v) ? v.toLocaleString("en-US") : "–");
  function unique(values) { return [...new Set(values)]; }
  function groupBy(items, keyOf) {
    const map = new Map();
    for (const item of items) {
      const name = keyOf(item);
      if (!map.has(name)) map.set(name, []);
      map.get(name).push(item);
    }
    return map;
  }
  /** The filter attributes of a row or a figure (a missing one is not filtered on). */
  function where(upstream, variant, task) {
    const method = variant === undefined ? undefined : methodOf.get(variant) ?? variant;
    return { "data-upstream": upstream, "data-method": method, "data-task": task };
  }

  // -- sortable tables -------------------------------------------------------------------------------
  /** A table sortable by any column; a column is {title, value(row), text(row)?} (text may be a node). */
  function table(columns, rows, rowAttrs = () => ({})) {
    const head = el("tr", {}, columns.map((c, i) => el("th", { scope: "col" }, el("button", { type: "button", "data-column": i }, c.title))));
    const node = el("table", { class: "sortable" }, el("thead", {}, head),
      el("tbody", {}, rows.map((row) => el("tr", rowAttrs(row), columns.map((c) => tableCell(c, row))))));
    head.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button) sortBy(node, Number(button.dataset.column));
    });
    return node;
  }
  function tableCell(column, row) {
    const value = column.value(row);
    const shown = column.text ? column.text(row) : isNum(value) ? fmt(value) : value ?? "–";
    return el("td", { "data-value": value ?? "", class: isNum(value) ? "num" : null }, shown);
  }
  function sortBy(node, column) {
    const th = node.tHead.rows[0].cells[column];
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    for (const other of node.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const value = (tr) => tr.cells[column].dataset.value;
    node.tBodies[0].append(...[...node.tBodies[0].rows].sort((a, b) => order(value(a), value(b), ascending)));
  }
  /** Numbers as numbers, text naturally ("fold10" after "fold2"), empty cells last either way. */
  function order(a, b, ascending) {
    if (a === "" || b === "") return (a === "") - (b === "");
    const x = Number(a), y = Number(b);
    const c = Number.isNaN(x) || Number.isNaN(y) ? a.localeCompare(b, "en", { numeric: true }) : x - y;
    return ascending ? c : -c;
  }

  // -- filters ---------------------------------------------------------------------------------------
  function setUpFilters() {
    for (const name of FILTERS) {
      const select = document.getElementById(`filter-${name}`);
      select.append(...unique(groups.map((g) => g[name])).map((v) => el("option", { value: v }, v)));
      select.addEventListener("change", applyFilters);
    }
  }
  function applyFilters() {
    const chosen = FILTERS.map((name) => [name, document.getElementById(`filter-${name}`).value]).filter(([, v]) => v);
    for (const node of document.querySelectorAll("main [data-upstream], main [data-method], main [data-task]")) {
      node.classList.toggle("filtered", chosen.some(([name, v]) => node.dataset[name] !== undefined && node.dataset[name] !== v));
    }
  }

  // -- charts ----------------------------------------------------------------------------------------
  /** Lines over categories: series are {name, method, color, values (null: no point)}; `mark` rings one category. */
  function lineChart(categories, series, [lo, hi], { yTitle = "UAR %", mark = -1 } = {}) {
    const W = 300, H = 170, L = 42, R = 12, T = 10, B = 30;
    if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
    const x = (i) => L + (categories.length > 1 ? (i * (W - L - R)) / (categories.length - 1) : (W - L - R) / 2);
    const y = (v) => T + ((hi - v) * (H - T - B)) / (hi - lo);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "line-chart", role: "img" },
      svg("path", { d: `M${L},${T}V${H - B}H${W - R}`, class: "axis" }),
      [lo, hi].map((v) => svg("text", { x: L - 4, y: y(v) + 4, class: "tick y" }, fmt(v, 1))),
      categories.map((c, i) => svg("text", { x: x(i), y: H - B + 14, class: "tick x" }, c)),
      svg("text", { x: 10, y: T + (H - T - B) / 2, class: "axis-title", transform: `rotate(-90 10 ${T + (H - T - B) / 2})` }, yTitle));
    for (const s of series) {
      const points = s.values.map((v, i) => (isNum(v) ? { px: x(i), py: y(v), v, i } : null)).filter(Boolean);
      root.append(svg("g", { class: `series c${s.color % 8}`, "data-method": s.method },
        svg("polyline", { points: points.map((p) => `${p.px.toFixed(1)},${p.py.toFixed(1)}`).join(" ") }),
        points.map((p) => svg("circle", { cx: p.px, cy: p.py, r: p.i === mark ? 4.5 : 2.5, class: p.i === mark ? "mark" : null },
          svg("title", {}, `${s.name}, ${categories[p.i]}: ${fmt(p.v)}`)))));
    }
    return root;
  }
  function legend(names) {
    return el("p", { class: "legend" }, names.map((v) => el("span", { ...where(undefined, v) },
      el("span", { class: `swatch c${variants.indexOf(v) % 8}` }), v)));
  }
  /** The effect and its confidence interval on the table's common axis, with the zero line. */
  function ciBar(c, [lo, hi]) {
    const W = 160, H = 14, x = (v) => (hi > lo ? 4 + ((v - lo) * (W - 8)) / (hi - lo) : W / 2);
    const direction = c.direction || 0;
    const better = direction !== 0 && (direction > 0) !== Boolean(c.lower_is_better);
    const bar = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
      class: direction === 0 ? "ci" : better ? "ci better" : "ci worse" },
      svg("line", { x1: x(0), x2: x(0), y1: 0, y2: H, class: "zero" }));
    if (c.ci && isNum(c.effect)) {
      bar.append(svg("line", { x1: x(c.ci[0]), x2: x(c.ci[1]), y1: H / 2, y2: H / 2, class: "interval" }),
        svg("circle", { cx: x(c.effect), cy: H / 2, r: 3.5, class: "effect" }));
    }
    return bar;
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
    document.getElementById("summary").append(
      `Regenerated from the run records: ${r.ok} ok, ${r.failed} failed, ${r.unreadable} unreadable; `,
      `${r.missing} expected training(s) without a record. ${page.expected_rule} All metrics: ${board.metrics}.`);
  }

  function overallSection() {
    const families = groupBy(board.overall || [], (row) => row.family);
    if (!families.size) return;
    section("overall", "Overall UAR (Table V analogue)",
      el("p", {}, "Mean ± std over the corpora of each corpus' mean test UAR; † some corpus has fewer trainings than expected."),
      [...families].map(([family, rows]) => [el("h3", {}, family), table([
        { title: "Backbone", value: (o) => o.upstream },
        { title: "Method", value: (o) => o.variant },
        ...rows[0].corpora.map((c) => ({ title: c, value: (o) => o.corpus_means[c] })),
        { title: "Mean", value: (o) => o.mean, text: (o) => (o.complete ? fmt(o.mean) + (o.partial ? " †" : "") : "incomplete") },
        { title: "Std", value: (o) => o.std },
      ], rows, (o) => where(o.upstream, o.variant))]));
  }

  function inCorpusSection() {
    if (!groups.length) return;
    const open = (g) => {
      const c = cells.get(key(g.upstream, g.variant, g.task));
      const button = el("button", { type: "button", class: "open" }, "open");
      button.addEventListener("click", () => openCell(c));
      return button;
    };
    section("in-corpus", "UAR per corpus",
      el("p", {}, "Mean ± std test UAR over each group's trainings. Sort by any column; open a row for its trainings."),
      table([...groupColumns,
        { title: "UAR mean", value: (g) => g.uar?.mean },
        { title: "UAR std", value: (g) => g.uar?.std },
        { title: "Trainings' details", value: () => "", text: open },
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

  function pairedSection() {
    const tables = [...(board.paired?.tables || []), ...(board.paired_evaluations || [])];
    if (!tables.length) return;
    const s = board.paired?.statistics || {};
    section("paired", "Method vs baseline (paired)",
      el("p", {}, `Each method minus the baseline ${board.baseline} on the same backbone, paired by training: the effect `,
        `with its ${fmt(100 * s.level, 0)}% bootstrap confidence interval (${count(s.resamples)} resamples), `,
        `the sign-flip p and Holm's correction across each table (α = ${s.alpha}). `,
        "A filled bar is significantly better (green) or worse (red) than the baseline."),
      tables.map(pairedTable));
  }
  function pairedTable(t) {
    const ends = t.comparisons.flatMap((c) => c.ci || []).concat(0);
    const scale = [Math.min(...ends), Math.max(...ends)];
    return [el("h3", {}, `${t.title} (Holm over ${t.holm_tests} tests)`), table([
      { title: "Backbone", value: (c) => c.method.upstream },
      { title: "Method", value: (c) => c.method.variant },
      { title: "Metric", value: (c) => c.metric },
      { title: "Scope", value: (c) => c.scope },
      { title: "Effect", value: (c) => c.effect },
      { title: "CI", value: (c) => c.ci?.[0], text: (c) => (c.ci ? `[${fmt(c.ci[0])}, ${fmt(c.ci[1])}]` : "–") },
      { title: "Effect and CI", value: (c) => c.effect, text: (c) => ciBar(c, scale) },
      { title: "p", value: (c) => c.p, text: (c) => fmtP(c.p) },
      { title: "p (Holm)", value: (c) => c.p_holm, text: (c) => fmtP(c.p_holm) },
      { title: "Paired units", value: (c) => c.paired_units,
        text: (c) => `${c.paired_units}` + (unmatched(c) ? ` (${unmatched(c)} unmatched)` : "") },
    ], t.comparisons, (c) => where(c.method.upstream, c.method.variant, c.corpora.length === 1 ? c.corpora[0] : undefined))];
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
    const entries = board.cross_corpus || [];
    if (!entries.length) return;
    const present = new Set(entries.flatMap((e) => [e.train_task, e.test_task]));
    const corpora = unique([...groups.map((g) => g.task), ...present]).filter((t) => present.has(t));
    const values = entries.map((e) => e.uar?.mean).filter(isNum);
    const range = [Math.min(...values), Math.max(...values)];
    const matrices = [...groupBy(entries, (e) => key(e.upstream, e.variant)).values()].map((list) => {
      const at = new Map(list.map((e) => [key(e.train_task, e.test_task), e]));
      return el("figure", { class: "heatmap", ...where(list[0].upstream, list[0].variant) },
        el("figcaption", {}, `${list[0].upstream} / ${list[0].variant}`),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "train \\ test"), corpora.map((c) => el("th", { scope: "col" }, c)))),
          el("tbody", {}, corpora.map((train) => el("tr", {}, el("th", { scope: "row" }, train),
            corpora.map((test) => heatCell(at.get(key(train, test)), range)))))));
    });
    section("cross-corpus", "Cross-corpus transfer (beyond the paper)",
      el("p", {}, "Mean test UAR of the trainings on the row's corpus, tested on the column's; the outlined diagonal is the in-corpus test UAR. Darker is higher."),
      el("div", { class: "figures" }, matrices));
  }
  function heatCell(entry, [lo, hi]) {
    if (!entry || !entry.uar) return el("td", { class: "empty" }, "–");
    const v = entry.uar.mean, share = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    const td = el("td", { class: `num${entry.in_corpus ? " diag" : ""}${share > 0.6 ? " dark" : ""}`, "data-value": v,
      title: `${fmt(v)} ± ${fmt(entry.uar.std)} over ${entry.trainings} training(s)` }, fmt(v));
    td.style.backgroundColor = `hsl(210, 65%, ${Math.round(96 - 52 * share)}%)`;
    return td;
  }

  function noiseSection() {
    const entries = board.noise || [];
    if (!entries.length) return;
    const values = entries.map((e) => e.uar?.mean).filter(isNum);
    const range = [Math.min(...values), Math.max(...values)];
    const mean = (list, test) => list.find(test)?.uar?.mean ?? null;
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
          lineChart([CLEAN, ...levels.map((snr) => `${snr} dB`)], series, range, { yTitle: "test UAR %" })));
      }
    }
    section("noise", "Noise robustness (beyond the paper)",
      el("p", {}, "Mean test UAR over the trainings, clean and at each signal-to-noise ratio; hover a point for its value."),
      legend(unique(entries.map((e) => e.variant))), el("div", { class: "figures" }, charts));
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
  function openCell(c) {
    const g = groups.find((x) => x.upstream === c.upstream && x.variant === c.variant && x.task === c.task);
    document.getElementById("cell-body").replaceChildren(el("div", {},
      el("h2", { id: "cell-title" }, `${c.upstream} / ${c.variant} / ${c.task}`),
      g && el("p", {}, `Test UAR ${fmt(g.uar?.mean)} ± ${fmt(g.uar?.std)} over ${g.trainings} of ${g.expected} expected trainings.`),
      c.trainings.length > 0 && table([
        { title: "Training", value: (t) => t.training },
        ...[["Test UAR", "uar"], ["Acc", "acc"], ["Macro F1", "macro_f1"], ["DP", "demographic_parity"], ["EO", "equality_of_odds"]]
          .map(([title, name]) => ({ title, value: (t) => t.test?.[name] })),
        { title: "Dev UAR", value: (t) => t.dev?.uar },
        { title: "Best epoch", value: (t) => t.best_epoch, text: (t) => count(t.best_epoch) },
        { title: "Wall time (s)", value: (t) => t.cost?.wall_time_s, text: (t) => fmt(t.cost?.wall_time_s, 1) },
        { title: "Peak memory (MB)", value: (t) => t.cost?.peak_memory_mb, text: (t) => fmt(t.cost?.peak_memory_mb, 1) },
        { title: "Trainable params", value: (t) => t.cost?.trainable_params, text: (t) => count(t.cost?.trainable_params) },
      ], c.trainings, (t) => ({ "data-training": t.training })),
      c.failed.length > 0 && [el("h3", {}, "Failed"), el("ul", {}, c.failed.map((f) => el("li", {}, `${f.training} (key ${f.key}): ${f.error}`)))],
      c.missing.length > 0 && el("p", {}, `Missing (no record): ${c.missing.join(", ")}.`),
      c.trainings.map(trainingDetail)));
    const dialog = document.getElementById("cell");
    if (!dialog.open) dialog.showModal();
  }
  function trainingDetail(t) {
    const epochs = t.history.map((h) => h[1]).filter(isNum);
    const facts = [
      ["Test", metricsText(t.test)], ["Dev", metricsText(t.dev)],
      ["Cost", t.cost && `${fmt(t.cost.wall_time_s, 1)} s on ${t.cost.device ?? "?"}, peak memory ${fmt(t.cost.peak_memory_mb, 1)} MB, `
        + `${fmt(t.cost.train_clips_per_s, 1)} clips/s, artifact ${count(t.cost.artifact_bytes)} bytes`],
      ["Parameters", `method ${count(t.method_params)}, head ${count(t.head_params)}, upstream ${count(t.upstream_params)}`],
      ["Configuration", JSON.stringify(t.config)],
      ["Deviations", t.deviations.length ? t.deviations.join("; ") : "none"],
      ["Test notes", t.test?.notes.length ? t.test.notes.join("; ") : null],
      ["Skipped audio", Object.keys(t.skipped).length ? JSON.stringify(t.skipped) : null],
      ["Cross-corpus UAR", t.transfer.length ? t.transfer.map(([test, v]) => `${test}: ${fmt(v)}`).join("; ") : null],
      ["Noise UAR", t.noise.length ? t.noise.map(([n, snr, v]) => `${n}${snr === null ? "" : ` ${snr} dB`}: ${fmt(v)}`).join("; ") : null],
    ].filter(([, text]) => text);
    return el("article", { class: "training", "data-training": t.training },
      el("h3", {}, `${t.training} (key ${t.key})`),
      el("div", { class: "figures" },
        el("figure", {}, el("figcaption", {}, "Test confusion matrix"), confusion(t.test, t.classes, "test")),
        el("figure", {}, el("figcaption", {}, "Dev confusion matrix"), confusion(t.dev, t.classes, "dev")),
        el("figure", {}, el("figcaption", {}, `Dev UAR per epoch (ringed: best epoch ${t.best_epoch})`),
          epochs.length ? lineChart(t.history.map((h) => String(h[0])), [{ name: "dev UAR", color: 0, values: t.history.map((h) => h[1]) }],
            [Math.min(...epochs), Math.max(...epochs)], { mark: t.history.findIndex((h) => h[0] === t.best_epoch) })
            : el("p", {}, "No history in the record."))),
      el("dl", {}, facts.map(([term, text]) => [el("dt", {}, term), el("dd", {}, text)])));
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
  pairedSection();
  fairnessSection();
  costSection();
  crossCorpusSection();
  noiseSection();
  plotsSection();
  notesSection();
  document.getElementById("cell-close").addEventListener("click", () => document.getElementById("cell").close());
  // What the tests and the timing script wait for: everything above is laid out.
  document.documentElement.dataset.ready = "true";
  performance.mark("data-ready");
})();
