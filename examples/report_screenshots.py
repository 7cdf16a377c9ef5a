"""Screenshots of a study report in headless Chromium: its first screen, the text view.

    python examples/report_screenshots.py --report skdni-report --out docs/screenshots

With no ``--report``, a small study is run first (``--quick``: a tiny one, seconds).
Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (the
``dev`` extra); no browser is downloaded.
"""

import argparse
import base64
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path


def chromium_driver(width=1280, height=900):
    """A headless Chromium driven by the system's chromedriver (no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        sys.exit(
            "needs chromium and chromedriver (Debian: apt-get install chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_page_load_timeout(300)  # a loaded machine renders slowly
    return browser


def screenshots(report: Path, out: Path) -> list[Path]:
    """``report-first-screen.png`` and ``report-text-view.png`` in ``out``."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out.mkdir(parents=True, exist_ok=True)
    driver = chromium_driver()
    try:
        driver.get((report / "report.html").resolve().as_uri())
        WebDriverWait(driver, 120).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "button.tv-unit.active")
        )
        first = out / "report-first-screen.png"
        driver.save_screenshot(str(first))
        view = driver.find_element(By.ID, "text-view")
        driver.execute_script("arguments[0].scrollIntoView();", view)
        buttons = driver.find_elements(By.CSS_SELECTOR, "button.tv-unit")
        if len(buttons) > 1:
            buttons[1].click()
        chars = driver.find_elements(By.CSS_SELECTOR, "#tv-text span")
        ActionChains(driver).move_to_element(chars[min(40, len(chars) - 1)]).perform()
        time.sleep(0.2)
        text_view = out / "report-text-view.png"
        driver.save_screenshot(str(text_view))
    finally:
        driver.quit()
    return [first, text_view]


def report_sizes(report: Path) -> dict:
    """The page's size, its unit pages' and its largest embedded PNG (pixels)."""
    page = (report / "report.html").read_text(encoding="utf-8")
    sides = [0]
    for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page):
        png = base64.b64decode(data[:64])  # the header holds the size
        sides += [int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")]
    units = list((report / "units").glob("*.html"))
    return {
        "report.html MB": round((report / "report.html").stat().st_size / 1e6, 2),
        "largest image side px": max(sides),
        "unit pages": len(units),
        "unit pages MB": round(sum(p.stat().st_size for p in units) / 1e6, 2),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", help="a report folder (default: run a study)")
    parser.add_argument("--out", default="report-screenshots", help="output folder")
    parser.add_argument("--quick", action="store_true", help="a tiny study (seconds)")
    args = parser.parse_args(argv)
    if args.report:
        report = Path(args.report)
    else:
        from skdni import run_study

        report = Path(tempfile.mkdtemp(prefix="skdni-screenshots-")) / "report"
        small = dict(n_chars=6_000, units=16, epochs=2, cv=3, top_k=3, ks=(1, 3))
        run_study(out=str(report), verbose=0, **(small if args.quick else {}))
    for path in screenshots(report, Path(args.out)):
        print(path)
    for key, value in report_sizes(report).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
