"""The leaderboard's web page: its size, its time to interactive in headless Chromium, a screenshot.

    python benchmarks/web_page.py measure results/demo                 # size and time, against the budget
    python benchmarks/web_page.py screenshot results/demo results/demo/index.png
    python benchmarks/web_page.py replicate SMALL_RUN /tmp/full-sized  # a full-grid-sized results directory

``measure`` reads RESULTS/index.html as the last leaderboard write left it (``--leaderboard``
rewrites it), then loads it from the file system ``--loads`` times in one headless Chromium and
takes, per load, the time from navigation start to the page's ``data-ready`` mark (set once every
section is laid out), as the Performance API reports it. It fails (exit 1) when the page is over
BUDGET_BYTES, a load is over BUDGET_MS, or the console shows anything.

``replicate`` builds the full grid's shape without training anything: every cell of a grid (the
demo's 475 by default) gets a record copied from SMALL_RUN's records in turn under the cell's own
identity, and every evaluation the grid plans (1,900) gets an evaluation record whose results are
SMALL_RUN's, under the planned conditions; then it writes the leaderboard and the page. The
numbers are the small run's, repeated; the shape and the size are the full grid's.

Needs Debian's chromium and chromium-driver and selenium (the ``test`` extra), as the browser
tests do (tests/browser.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import browser  # noqa: E402  (tests/browser.py: finding and starting headless Chromium)

BUDGET_BYTES = 3_000_000  # index.html, data included, for the full grid (475 cells, 1,900 evaluations)
BUDGET_MS = 1000.0  # navigation start to data-ready, on a 2-core machine


def measure(results: Path, loads: int) -> int:
    page = results / "index.html"
    if not page.is_file():
        print(f"error: {page} does not exist; write it with: python run_benchmark.py --leaderboard --results {results}", file=sys.stderr)
        return 2
    size = page.stat().st_size
    board = json.loads((results / "leaderboard.json").read_text())
    trainings = board["records"]["ok"] + ((board.get("attributes") or {}).get("records") or {}).get("ok", 0)  # UAR and attribute
    times, console = [], []
    with browser.chromium() as driver:
        for _ in range(loads):
            driver.get(page.resolve().as_uri())
            browser.wait_ready(driver, timeout=60)
            times.append(driver.execute_script("return performance.getEntriesByName('data-ready')[0].startTime"))
            console += driver.get_log("browser")
    median, worst = statistics.median(times), max(times)
    print(f"{page}: {trainings} trainings; {size / 1e6:.2f} MB (budget {BUDGET_BYTES / 1e6:.1f} MB); "
          f"time to interactive {median:.0f} ms median, {worst:.0f} ms slowest of {loads} loads (budget {BUDGET_MS:.0f} ms)")
    problems = [f"{size} bytes over the budget"] * (size > BUDGET_BYTES) + [f"{worst:.0f} ms over the budget"] * (worst > BUDGET_MS)
    problems += [f"console: {entry['message']}" for entry in console]
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


def screenshot(results: Path, out: Path, width: int, height: int, cell: str | None) -> int:
    with browser.chromium(width, height) as driver:
        # The viewport itself, not the window, is width x height.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        driver.get((results / "index.html").resolve().as_uri())
        browser.wait_ready(driver)
        what = "the top"
        if cell:  # open one drill-down: "upstream/variant/task" as the in-corpus (or attribute) table names it
            def names(row) -> str:
                task, upstream, variant = (td.text for td in row.find_elements("css selector", "td")[:3])
                return f"{upstream}/{variant}/{task}"

            rows = driver.find_elements("css selector", "#in-corpus table tbody tr, #attributes table.sortable:last-of-type tbody tr")
            row = next((r for r in rows if names(r) == cell), None)
            if row is None:
                print(f"error: --open {cell}: no such upstream/variant/task in the in-corpus or attribute table", file=sys.stderr)
                return 2
            row.find_element("css selector", "button.open").click()
            what = f"the drill-down of {cell}"
        driver.save_screenshot(str(out))
    print(f"wrote {out} ({width}x{height}, {what} of {results / 'index.html'})")
    return 0


def _read(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/*.json"))] if folder.is_dir() else []


def replicate(source: Path, target: Path, grid_name: str) -> int:
    from peftser.benchmark.grids import load_grid
    from peftser.benchmark.report.leaderboard import write_results_leaderboard
    from peftser.benchmark.store import ResultStore

    records = [r for r in _read(source / "records") if r.get("status") == "ok"]
    evaluated = [r for r in _read(source / "evaluations") if r.get("status") == "ok"]
    if not records:
        print(f"error: {source / 'records'} holds no ok record to replicate", file=sys.stderr)
        return 2
    grid, store = load_grid(grid_name), ResultStore(target)
    cells = grid.cells()
    for cell, record in zip(cells, itertools.cycle(records)):
        store.save_record({**record, **cell.identity()})
    planned = grid.evaluations(cells)
    transfer = [r for e in evaluated if e["evaluation"]["kind"] == "transfer" for r in e["results"]]
    noisy = [r for e in evaluated if e["evaluation"]["kind"] == "noise" for r in e["results"] if r["condition"]["noise"] != "clean"]
    clean = [r for e in evaluated if e["evaluation"]["kind"] == "noise" for r in e["results"] if r["condition"]["noise"] == "clean"]
    if planned and not (transfer and noisy and clean):
        print(f"error: {source / 'evaluations'} needs transfer and noise records to replicate the grid's evaluations", file=sys.stderr)
        return 2
    pools = {name: itertools.cycle(pool) for name, pool in (("transfer", transfer), ("noisy", noisy), ("clean", clean)) if pool}
    base = {kind: next(e for e in evaluated if e["evaluation"]["kind"] == kind) for kind in ("transfer", "noise") if planned}
    for evaluation in planned:
        condition = evaluation.condition
        if evaluation.kind == "transfer":
            results = [{**next(pools["transfer"]), "condition": {"test_task": condition["test_task"]}}]
        else:
            results = [next(pools["clean"])] + [{**next(pools["noisy"]), "condition": {"noise": kind, "snr_db": snr}}
                                                for kind in condition["types"] for snr in condition["snr_db"]]
        store.save_record({**base[evaluation.kind], **evaluation.identity(), "results": results})
    store.remember_grid(grid)
    path, read = write_results_leaderboard(target)
    print(f"{target}: {len(cells)} records and {len(planned)} evaluation records from {source}; wrote {path.parent / 'index.html'} ({read})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("measure", help="size and time to interactive of RESULTS/index.html")
    m.add_argument("results", type=Path)
    m.add_argument("--loads", type=int, default=5)
    s = commands.add_parser("screenshot", help="a PNG of the top of RESULTS/index.html")
    s.add_argument("results", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--width", type=int, default=1400)
    s.add_argument("--height", type=int, default=900)
    s.add_argument("--open", metavar="UPSTREAM/VARIANT/TASK", help="open that cell's drill-down first")
    r = commands.add_parser("replicate", help="a full-grid-sized results directory from a small run's records")
    r.add_argument("source", type=Path)
    r.add_argument("target", type=Path)
    r.add_argument("--grid", default="demo")
    args = parser.parse_args(argv)
    why = browser.missing() if args.command != "replicate" else None
    if why:
        print(f"error: no headless Chromium: {why}", file=sys.stderr)
        return 2
    if args.command == "measure":
        return measure(args.results, args.loads)
    if args.command == "screenshot":
        return screenshot(args.results, args.out, args.width, args.height, args.open)
    return replicate(args.source, args.target, args.grid)


if __name__ == "__main__":
    sys.exit(main())
