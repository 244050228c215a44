"""The leaderboard's web page in a real browser (headless Chromium): it loads clean from the file
system, sorts, filters, shows leaderboard.json's numbers, opens a training's confusion matrix (an
attribute training's CCC per dimension), and shows a grid's markup-like strings as text. Skipped, with the reason, where no Chromium can be
driven, except in CI (see tests/browser.py), where that fails."""

from __future__ import annotations

import itertools
import json
import os

import pytest

import browser
from attribute_records import DIMS, SCALES, write_attribute_results
from board_fixture import DATA, board_results, fixture_evaluations
from grid_runners import RUNNER
from peftser.benchmark.grids import Grid, MethodEntry, TaskEntry, UpstreamEntry
from peftser.benchmark.report.leaderboard import _write, load_board
from peftser.benchmark.report.render_html import SCRIPTS
from peftser.benchmark.run.orchestrator import run_grid
from peftser.benchmark.run.slots import Local
from peftser.cli import main

pytestmark = pytest.mark.slow

# A grid whose names, task argument and deviations hold markup, quotes and newlines (names are
# folder names: no "/"); each payload would set window.pwned if the page ran it.
NAME = 'grid <script>window.pwned=1\n<img src=x onerror="window.pwned=1"> \'q\' "qq"'
VARIANT = 'v<script>window.pwned=2<img src=x onerror="window.pwned=2">\'"\nsecond line'
TASK_ARG = '</script><script>window.pwned=3</script> & <!--'
DEVIATION = 'dev </script><script>window.pwned=4</script> "quoted" & \'single\'\nnext line'
RECORD_DEVIATION = '<b onmouseover="window.pwned=5">bold?</b> </script>'


@pytest.fixture(scope="module")
def chromium():
    why = browser.missing()
    if why:
        (pytest.fail if browser.required() else pytest.skip)(f"no headless Chromium: {why}")
    with browser.chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def board_page(tmp_path_factory):
    """The board fixture's 15 demo records, with stand-in scores beyond the paper, as a page."""
    results = board_results(tmp_path_factory.mktemp("board-page"))
    board, footnotes, _, rule = load_board(results)
    board.evaluations = fixture_evaluations(board)
    _write(results, board, footnotes, "downstream", rule)
    return results


@pytest.fixture(scope="module")
def injection_page(tmp_path_factory):
    """A grid run of the injection grid (stand-in trainings), one record given a deviation, regenerated."""
    root = tmp_path_factory.mktemp("injection")
    grid = Grid(name=NAME, upstreams=(UpstreamEntry("toy_up"),), methods=(MethodEntry("toy", VARIANT, {"sleep": 0}),),
                tasks=(TaskEntry("toy_task", ("fold1", "fold2"), {"note": TASK_ARG}),), deviations=(DEVIATION,))
    os.environ["GRID_TEST_LOG"] = str(root / "runs.log")
    try:
        run_grid(grid, results_dir=root / "results", backend=Local("cpu", 1), runner=RUNNER)
    finally:
        os.environ.pop("GRID_TEST_LOG", None)
    results = root / "results"
    assert (results / "index.html").is_file()  # a grid run writes the page at its end
    record_path = next((results / "records").glob("*/*.json"))
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "deviations": [RECORD_DEVIATION]}))
    assert main(["--leaderboard", "--results", str(results)]) == 0
    return results


def load(driver, results) -> dict:
    """Open a results directory's page; its leaderboard.json."""
    driver.get((results / "index.html").as_uri())
    browser.wait_ready(driver)
    return json.loads((results / "leaderboard.json").read_text())


# One round trip per table: each shown row's cells as (text as rendered, data-value).
ROWS = """return [...document.querySelectorAll(arguments[0])].filter((row) => row.offsetParent !== null)
  .map((row) => [...row.cells].map((cell) => [cell.innerText, cell.dataset.value ?? null]));"""


def table_rows(driver, section: str) -> list[list[tuple[str, str | None]]]:
    """The shown rows of a section's tables."""
    return [[tuple(c) for c in row] for row in driver.execute_script(ROWS, f"#{section} table.sortable tbody tr")]


def texts(row) -> list[str]:
    return [text for text, _ in row]


def choose(driver, name: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", f"filter-{name}")).select_by_value(value)


def test_the_page_loads_with_no_console_errors_and_fetches_nothing_from_the_network(chromium, board_page, injection_page):
    for results in (board_page, injection_page):
        load(chromium, results)
        assert chromium.get_log("browser") == []  # no error, no warning, no blocked resource
        resources = chromium.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(name.startswith("file://") for name in resources), resources
    load(chromium, board_page)  # every section is there, the ones beyond the paper too
    shown = [a.text for a in chromium.find_elements("css selector", "#contents a")]
    assert shown[:5] == ["Overall UAR (Table V analogue)", "UAR per corpus", "Method vs baseline (paired)",
                         "Fairness by gender (Table VI analogue)", "Cost per backbone and method"]
    assert {"Cross-corpus transfer (beyond the paper)", "Noise robustness (beyond the paper)", "Plots"} <= set(shown)
    assert chromium.find_elements("css selector", "#noise svg.line-chart g.series polyline")


def test_sorting_a_column_reorders_the_rows(chromium, board_page):
    data = load(chromium, board_page)
    header = chromium.find_element("xpath", "//section[@id='in-corpus']//th/button[text()='UAR mean']")
    value = lambda: [row[4][1] for row in table_rows(chromium, "in-corpus")]
    before = value()
    header.click()
    ascending = [float(v) for v in value() if v]
    header.click()
    descending = [float(v) for v in value() if v]
    means = sorted(g["uar"]["mean"] for g in data["groups"] if g["uar"])
    assert ascending == means and descending == means[::-1] and before != value()
    assert value()[-1] == ""  # groups without a training sort last either way


def test_a_filter_hides_the_rows_it_should(chromium, board_page):
    data = load(chromium, board_page)
    assert len(table_rows(chromium, "in-corpus")) == len(data["groups"]) == 100
    choose(chromium, "method", "lora")
    shown = [tuple(texts(r)[:3]) for r in table_rows(chromium, "in-corpus")]
    assert shown == [(g["task"], g["upstream"], g["variant"]) for g in data["groups"] if g["method"] == "lora"]
    assert {texts(r)[1] for r in table_rows(chromium, "cost")} == {"lora"}
    choose(chromium, "task", "synthetic_crema_d")
    assert [tuple(texts(r)[:3]) for r in table_rows(chromium, "in-corpus")] == [
        (g["task"], g["upstream"], g["variant"]) for g in data["groups"] if (g["method"], g["task"]) == ("lora", "synthetic_crema_d")]
    choose(chromium, "method", "")
    assert len(table_rows(chromium, "in-corpus")) == 25  # five methods of five backbones


def test_the_numbers_shown_are_leaderboard_json_s(chromium, board_page):
    data = load(chromium, board_page)
    groups = {(g["task"], g["upstream"], g["variant"]): g for g in data["groups"]}
    for row in table_rows(chromium, "in-corpus"):
        task, upstream, variant, trainings, mean, std = texts(row)[:6]
        group = groups[(task, upstream, variant)]
        assert (float(row[4][1]) if row[4][1] else None) == (group["uar"] and group["uar"]["mean"])  # exactly
        assert trainings == f"{group['trainings']}/{group['expected']}"
        assert (mean, std) == ((f"{group['uar']['mean']:.2f}", f"{group['uar']['std']:.2f}") if group["uar"] else ("–", "–"))
    costs = {(c["upstream"], c["variant"]): c for c in data["cost"]}
    for row in table_rows(chromium, "cost"):
        shown = texts(row)
        assert shown[4] == f"{costs[(shown[0], shown[1])]['device_hours']:.4f}"
    effects = [c["effect"] for t in data["paired"]["tables"] + data["paired_evaluations"] for c in t["comparisons"]]
    shown = [row[4][1] for row in table_rows(chromium, "paired")]
    assert [float(v) if v else None for v in shown] == effects
    heat = chromium.execute_script("return [...document.querySelectorAll('#cross-corpus td.num')].map((td) => Number(td.dataset.value))")
    assert sorted(heat) == sorted(e["uar"]["mean"] for e in data["cross_corpus"])


def test_a_drilldown_opens_and_shows_a_trainings_confusion_matrix(chromium, board_page):
    load(chromium, board_page)
    index = next(i for i, r in enumerate(table_rows(chromium, "in-corpus")) if texts(r)[:3] == ["synthetic_crema_d", "demo_whisper_tiny", "lora"])
    chromium.find_elements("css selector", "#in-corpus button.open")[index].click()
    dialog = chromium.find_element("id", "cell")
    assert dialog.is_displayed() and dialog.find_element("id", "cell-title").text == "demo_whisper_tiny / lora / synthetic_crema_d"
    record = next(r for r in map(json.loads, (p.read_text() for p in (DATA / "records").glob("*/*.json")))
                  if (r["method"], r["training"]) == ("lora", "fold3"))
    matrix = dialog.find_element("css selector", "article[data-training='fold3'] table.confusion[data-split='test']")
    assert [[int(td.text) for td in tr.find_elements("css selector", "td")]
            for tr in matrix.find_elements("css selector", "tbody tr")] == record["test"]["confusion"]
    assert [th.text for th in matrix.find_elements("css selector", "thead th")][1:] == ["neutral", "happy", "sad", "angry"]
    history = dialog.find_elements("css selector", "article[data-training='fold3'] svg.line-chart circle")
    assert len(history) == len(record["history"])
    chromium.find_element("id", "cell-close").click()
    assert not dialog.is_displayed()


def test_the_injection_grids_strings_appear_as_text(chromium, injection_page):
    load(chromium, injection_page)
    text = lambda selector: chromium.execute_script(f"return document.querySelector({json.dumps(selector)}).textContent")
    assert chromium.execute_script("return window.pwned") is None
    assert len(chromium.find_elements("css selector", "script")) == 2 + len(SCRIPTS)
    assert not chromium.find_elements("css selector", "main img[src='x'], b")
    assert NAME in text("#summary")
    assert text("#notes ol.footnotes li") == DEVIATION
    assert VARIANT in [td.get_attribute("textContent") for td in chromium.find_elements("css selector", "#in-corpus td")]
    chromium.find_element("css selector", "#in-corpus button.open").click()
    body = text("#cell-body")
    assert VARIANT in text("#cell-title") and json.dumps({"note": TASK_ARG}, separators=(",", ":")) in body
    assert RECORD_DEVIATION in body
    assert chromium.execute_script("return window.pwned") is None and chromium.get_log("browser") == []


# -- the attribute part ----------------------------------------------------------------------------------
ATTRIBUTE_SECTIONS = ["Emotional attributes (CCC)", "Emotional attributes: method vs baseline (paired CCC)",
                      "Emotional attributes: cross-corpus transfer (mean CCC, beyond the paper)",
                      "Emotional attributes: noise robustness (mean CCC, beyond the paper)"]
PER_TASK = "#attributes table.sortable:last-of-type tbody tr"  # the section's second table (the first: over the tasks)


@pytest.fixture(scope="module")
def attribute_page(tmp_path_factory):
    """The board fixture's UAR records and hand-written attribute trainings with their evaluations, as a page."""
    results = board_results(tmp_path_factory.mktemp("attribute-page"))
    write_attribute_results(results)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    return results


@pytest.fixture(scope="module")
def attribute_only_page(tmp_path_factory):
    """The attribute trainings alone, as a page."""
    results = tmp_path_factory.mktemp("attribute-only") / "results"
    write_attribute_results(results)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    return results


def rows(driver, selector: str) -> list[list[tuple[str, str | None]]]:
    return [[tuple(c) for c in row] for row in driver.execute_script(ROWS, selector)]


def test_the_attribute_part_loads_clean_after_the_uar_sections_and_never_in_their_tables(chromium, attribute_page,
                                                                                        attribute_only_page):
    data = load(chromium, attribute_page)
    assert chromium.get_log("browser") == []
    shown = [a.text for a in chromium.find_elements("css selector", "#contents a")]
    assert shown[shown.index("Cost per backbone and method") + 1:][:4] == ATTRIBUTE_SECTIONS
    uar_tasks = {texts(r)[0] for r in table_rows(chromium, "in-corpus")}
    assert uar_tasks == {g["task"] for g in data["groups"]} and not uar_tasks & set(SCALES)
    assert {texts(r)[0] for r in rows(chromium, PER_TASK)} == set(SCALES)
    assert chromium.find_elements("css selector", "#attributes-noise svg.line-chart g.series polyline")
    data = load(chromium, attribute_only_page)  # no UAR record: no UAR section, and a summary of the attribute trainings
    assert chromium.get_log("browser") == [] and "groups" in data and not data["groups"]
    shown = [a.text for a in chromium.find_elements("css selector", "#contents a")]
    assert shown[:4] == ATTRIBUTE_SECTIONS and not chromium.find_elements("id", "in-corpus")
    summary = chromium.find_element("id", "summary").text
    assert "Attribute tasks: 8 ok, 0 failed, 0 expected training(s) without a record" in summary and "0 unreadable" not in summary


def test_the_attribute_tables_show_leaderboard_json_s_numbers_and_sort(chromium, attribute_page):
    data = load(chromium, attribute_page)["attributes"]
    groups = {(g["task"], g["upstream"], g["variant"]): g for g in data["groups"]}
    names = ["mean_ccc", *(f"ccc:{d}" for d in DIMS), *(f"rmse:{d}" for d in DIMS)]
    shown = rows(chromium, PER_TASK)
    assert len(shown) == len(groups) == 4
    for row in shown:
        group = groups[tuple(texts(row)[:3])]
        assert texts(row)[3] == f"{group['trainings']}/{group['expected']}"
        for (text, value), name in zip(row[4:], names):
            assert float(value) == group[name]["mean"], name  # exactly leaderboard.json's
            assert text == f"{group[name]['mean']:.3f} ± {group[name]['std']:.3f}"
    overall = {(o["upstream"], o["variant"]): o for o in data["overall"]}
    for row in rows(chromium, "#attributes table.sortable:first-of-type tbody tr"):
        o = overall[tuple(texts(row)[:2])]
        assert [float(v) for _, v in row[2:]] == [*(o["corpus_means"][t] for t in o["corpora"]), o["mean"], o["std"]]
    # Sorting by the mean CCC: ascending, then descending, by the numbers.
    header = chromium.find_element("xpath", "//section[@id='attributes']//th/button[text()='Mean CCC']")
    means = sorted(g["mean_ccc"]["mean"] for g in data["groups"])
    header.click()
    assert [float(row[4][1]) for row in rows(chromium, PER_TASK)] == means
    header.click()
    assert [float(row[4][1]) for row in rows(chromium, PER_TASK)] == means[::-1]
    effects = [c["effect"] for t in data["paired"] + data["paired_evaluations"] for c in t["comparisons"]]
    assert [float(v) if v else None for _, v in (r[4] for r in table_rows(chromium, "attributes-paired"))] == effects
    heat = chromium.execute_script("return [...document.querySelectorAll('#attributes-cross-corpus td.num')].map((td) => Number(td.dataset.value))")
    assert sorted(heat) == sorted(e["mean_ccc"]["mean"] for e in data["cross_corpus"])


def test_the_filters_apply_to_the_attribute_tables(chromium, attribute_page):
    data = load(chromium, attribute_page)["attributes"]
    choose(chromium, "task", "synthetic_msp_podcast_dims")
    assert [tuple(texts(r)[:3]) for r in rows(chromium, PER_TASK)] == [
        (g["task"], g["upstream"], g["variant"]) for g in data["groups"] if g["task"] == "synthetic_msp_podcast_dims"]
    assert table_rows(chromium, "in-corpus") == []  # no UAR group on that task
    choose(chromium, "method", "lora")
    assert [texts(r)[2] for r in rows(chromium, PER_TASK)] == ["lora"]
    assert {texts(r)[1] for r in table_rows(chromium, "attributes-paired")} == {"lora"}


def test_an_attribute_trainings_drilldown_shows_its_ccc_per_dimension_and_its_dev_mean_ccc_per_epoch(chromium, attribute_page):
    load(chromium, attribute_page)
    index = next(i for i, r in enumerate(rows(chromium, PER_TASK)) if texts(r)[:3] == ["synthetic_iemocap_dims", "demo_whisper_tiny", "lora"])
    chromium.find_elements("css selector", "#attributes button.open")[index].click()
    dialog = chromium.find_element("id", "cell")
    assert dialog.is_displayed() and dialog.find_element("id", "cell-title").text == "demo_whisper_tiny / lora / synthetic_iemocap_dims"
    record = next(r for r in map(json.loads, (p.read_text() for p in (attribute_page / "records" / "synthetic_iemocap_dims").glob("*.json")))
                  if (r["method"], r["training"]) == ("lora", "fold2"))
    article = dialog.find_element("css selector", "article[data-training='fold2']")
    for split, metric in itertools.product(("test", "dev"), ("ccc", "r", "rmse")):
        cells = [article.find_element("css selector", f"tr[data-dimension='{d}'] td[data-split='{split}'][data-metric='{metric}']") for d in DIMS]
        assert [float(td.get_attribute("data-value")) for td in cells] == [record[split][metric][d] for d in DIMS]
        assert [td.text for td in cells] == [f"{record[split][metric][d]:.3f}" for d in DIMS]
    assert len(article.find_elements("css selector", "svg.line-chart circle")) == len(record["history"]) == 3
    assert "Dev mean CCC per epoch" in article.text and not dialog.find_elements("css selector", "table.confusion")
    chromium.find_element("id", "cell-close").click()
    assert not dialog.is_displayed() and chromium.get_log("browser") == []
