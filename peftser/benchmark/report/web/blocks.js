"use strict";
// The leaderboard page's building blocks, which know nothing of its data: elements (strings only ever
// become text nodes or attribute values, never markup), tables sortable by any column, line charts and
// confidence-interval bars. leaderboard.js and attributes.js lay the page out with them.
window.peftserBlocks = (() => {
  const SVG = "http://www.w3.org/2000/svg";

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
  const key = (...parts) => JSON.stringify(parts);

  // -- sortable tables -------------------------------------------------------------------------------
  /** A table sortable by any column; a column is {title, value(row), text(row)?} (text may be a node); a
   * number without text is shown with `digits` decimals. */
  function table(columns, rows, rowAttrs = () => ({}), digits = 2) {
    const head = el("tr", {}, columns.map((c, i) => el("th", { scope: "col" }, el("button", { type: "button", "data-column": i }, c.title))));
    const node = el("table", { class: "sortable" }, el("thead", {}, head),
      el("tbody", {}, rows.map((row) => el("tr", rowAttrs(row), columns.map((c) => tableCell(c, row, digits))))));
    head.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button) sortBy(node, Number(button.dataset.column));
    });
    return node;
  }
  function tableCell(column, row, digits) {
    const value = column.value(row);
    const shown = column.text ? column.text(row) : isNum(value) ? fmt(value, digits) : value ?? "–";
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

  // -- charts ----------------------------------------------------------------------------------------
  /** Lines over categories: series are {name, method, color, values (null: no point)}; `mark` rings one
   * category; values are shown with `digits` decimals, the axis' ends with one fewer. */
  function lineChart(categories, series, [lo, hi], { yTitle = "UAR %", mark = -1, digits = 2 } = {}) {
    const W = 300, H = 170, L = 42, R = 12, T = 10, B = 30;
    if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
    const x = (i) => L + (categories.length > 1 ? (i * (W - L - R)) / (categories.length - 1) : (W - L - R) / 2);
    const y = (v) => T + ((hi - v) * (H - T - B)) / (hi - lo);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "line-chart", role: "img" },
      svg("path", { d: `M${L},${T}V${H - B}H${W - R}`, class: "axis" }),
      [lo, hi].map((v) => svg("text", { x: L - 4, y: y(v) + 4, class: "tick y" }, fmt(v, digits - 1))),
      categories.map((c, i) => svg("text", { x: x(i), y: H - B + 14, class: "tick x" }, c)),
      svg("text", { x: 10, y: T + (H - T - B) / 2, class: "axis-title", transform: `rotate(-90 10 ${T + (H - T - B) / 2})` }, yTitle));
    for (const s of series) {
      const points = s.values.map((v, i) => (isNum(v) ? { px: x(i), py: y(v), v, i } : null)).filter(Boolean);
      root.append(svg("g", { class: `series c${s.color % 8}`, "data-method": s.method },
        svg("polyline", { points: points.map((p) => `${p.px.toFixed(1)},${p.py.toFixed(1)}`).join(" ") }),
        points.map((p) => svg("circle", { cx: p.px, cy: p.py, r: p.i === mark ? 4.5 : 2.5, class: p.i === mark ? "mark" : null },
          svg("title", {}, `${s.name}, ${categories[p.i]}: ${fmt(p.v, digits)}`)))));
    }
    return root;
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

  return Object.freeze({ el, svg, isNum, fmt, fmtP, count, unique, groupBy, key, table, lineChart, ciBar });
})();
