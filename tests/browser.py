"""Headless Chromium driven by Selenium, for the web page's tests, its timing script and its screenshot.

Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``) and
``selenium`` (the ``test`` extra). Selenium is given both paths, so it never looks for a driver on
the network. Without them the browser tests are skipped with a line saying what is missing, except
in CI (``CI=true`` or ``PEFTSER_REQUIRE_BROWSER_TEST=1``, which ``.ci/run`` sets), where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from collections.abc import Iterator

# No network, no first-run work, no GPU: the page must stand on the file system alone.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
BINARIES = ("chromium", "chromium-browser", "google-chrome")


def missing() -> str | None:
    """Why no headless Chromium can be driven here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(shutil.which(name) for name in BINARIES):
        return "no Chromium binary (apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "no chromedriver (apt-get install chromium-driver)"
    return None


def required() -> bool:
    """Whether a missing browser is a failure (CI) rather than a skip."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("PEFTSER_REQUIRE_BROWSER_TEST") == "1"


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator:
    """A headless Chromium (a Selenium driver) with a fresh profile and its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(name) for name in BINARIES if shutil.which(name))
    profile = tempfile.mkdtemp(prefix="peftser-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_ready(driver, timeout: float = 20.0) -> None:
    """Until the page has laid out its data (it sets data-ready on <html>)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.documentElement.dataset.ready === 'true'"))
