"""A study's report as a reader uses it, in headless Chromium driven by selenium.

Findings come before any table, every figure decodes, clicking a unit in the text
view changes the shading, hovering a character shows a tooltip, and the unit pages
the findings link to open (and their figures decode). Debian's ``chromium`` and
``chromium-driver``; no browser is downloaded.
"""

import shutil
from pathlib import Path

import pytest

from skdni import run_study

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
MAX_PAGE_BYTES = 10_000_000
# A small study: seconds, yet with findings, ablations and clamped generation.
SMALL = dict(
    n_chars=8_000,
    units=16,
    epochs=2,
    cv=3,
    top_k=3,
    ks=(1, 3),
    n_random=3,
    n_samples=2,
    sample_chars=20,
    verbose=0,
)


@pytest.fixture(scope="module")
def driver():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "chromium or chromedriver is not installed (Debian: apt-get install "
            "chromium chromium-driver); the report is not checked in a browser"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "report"
    cache = tmp_path_factory.mktemp("browser-cache")
    result = run_study(out=str(out), cache_dir=str(cache), **SMALL)
    assert len(result.summary), "the small study must have findings to show"
    return out


def _images_decoded(driver):
    return driver.execute_script(
        "return Array.from(document.images).map(i => [i.id, i.complete, "
        "i.naturalWidth]);"
    )


def test_findings_first_and_every_figure_decodes(driver, report):
    page = report / "report.html"
    assert page.stat().st_size <= MAX_PAGE_BYTES
    driver.get(page.resolve().as_uri())
    order = driver.execute_script(
        """const f = document.getElementById("findings");
        const t = document.querySelector("table");
        return [!!f, !!t, !!t && !!(f.compareDocumentPosition(t) &
                Node.DOCUMENT_POSITION_FOLLOWING),
                f.querySelectorAll("table").length];"""
    )
    assert order == [True, True, True, 0]
    images = _images_decoded(driver)
    assert len(images) >= 3
    assert all(complete and width > 0 for _, complete, width in images), images
    # figures come before the first table, each with a caption
    assert driver.execute_script(
        """const fig = document.querySelector("figure figcaption");
        return !!fig && fig.textContent.length > 40 &&
            !!(fig.compareDocumentPosition(document.querySelector("#tables table")) &
               Node.DOCUMENT_POSITION_FOLLOWING);"""
    )


def test_clicking_a_unit_changes_the_shading_and_hover_shows_a_tooltip(driver, report):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get((report / "report.html").resolve().as_uri())
    shading = (
        "return Array.from(document.querySelectorAll('#tv-text span'))"
        ".map(s => s.style.backgroundColor).join('|');"
    )
    before = driver.execute_script(shading)
    assert before.count("rgba(") > 100
    buttons = driver.find_elements(By.CSS_SELECTOR, "button.tv-unit")
    assert len(buttons) >= 2
    active = driver.find_element(By.CSS_SELECTOR, "button.tv-unit.active")
    other = next(b for b in buttons if b != active)
    driver.execute_script("arguments[0].scrollIntoView();", other)
    other.click()
    assert driver.execute_script(shading) != before
    assert "active" in other.get_attribute("class").split()
    unit = other.get_attribute("data-unit")
    tip = driver.find_element(By.ID, "tv-tip")
    assert not tip.is_displayed()
    span = driver.find_elements(By.CSS_SELECTOR, "#tv-text span")[3]
    driver.execute_script("arguments[0].scrollIntoView();", span)
    ActionChains(driver).move_to_element(span).perform()
    assert tip.is_displayed()
    assert f"{unit} = " in tip.text and "labels:" in tip.text


def test_unit_pages_linked_from_the_findings_open(driver, report):
    from selenium.webdriver.common.by import By

    driver.get((report / "report.html").resolve().as_uri())
    links = driver.find_elements(By.CSS_SELECTOR, "#findings a.unit-link")
    assert links
    hrefs = list(dict.fromkeys(a.get_attribute("href") for a in links))
    for href in hrefs:
        assert href.startswith("file://") and "/units/" in href
        assert Path(href.removeprefix("file://")).is_file(), href
    driver.get(hrefs[0])
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Unit ")
    assert driver.find_elements(By.CSS_SELECTOR, ".ctx span")  # shaded contexts
    images = _images_decoded(driver)
    assert images and all(c and w > 0 for _, c, w in images), images
    driver.find_element(By.LINK_TEXT, "← report").click()
    assert driver.find_element(By.ID, "findings")


def test_unit_pages_are_in_the_manifest_and_the_page_is_bounded(report):
    import json

    manifest = json.loads((report / "skdni-manifest.json").read_text())
    pages = sorted(p for p in manifest if p.startswith("units/"))
    assert pages == sorted(f"units/{p.name}" for p in (report / "units").iterdir()), (
        "every unit page is listed, so --overwrite replaces exactly these"
    )
    assert pages and all(p.endswith(".html") and "/" not in p[6:] for p in pages)
    page = (report / "report.html").read_text(encoding="utf-8")
    assert page.index('id="findings"') < page.index("<table")
    assert 'id="tv-data"' in page and "http" not in page.split("<body>")[0]
