"""The demo page in a real browser: headless Chromium (the system's, driven by Selenium) loads the page
served over a tiny export, pastes a text into the Style tab, generates, and finds the generated documents
on the page; the test saves a screenshot.

Needs the `demo` and `test` extras (gradio, selenium) and Chromium with its driver (Debian: `apt-get install
chromium chromium-driver`; `.ci/run` installs them); skipped with the reason where one is missing. To
screenshot a trained model's page instead (the README's picture), set DOC_HVAE_DEMO_MODEL to its export
folder and DOC_HVAE_SCREENSHOT to the PNG to write.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio", reason="the demo needs the demo extra: pip install -e '.[demo]'")
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="the browser test needs selenium: pip install -e '.[test]'"
)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from test_demo import FIRST, LIMITS, free_port  # noqa: E402

from conftest import export_folder  # noqa: E402
from doc_hvae import DocHVAEPipeline  # noqa: E402
from doc_hvae.data.prepare import PreparedCorpus  # noqa: E402
from doc_hvae.demo import build_demo, launch_demo  # noqa: E402
from doc_hvae.modeling.loading import prepared_dir_of  # noqa: E402

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(
        BROWSER is None or DRIVER is None,
        reason="no Chromium with its driver on PATH (Debian: apt-get install chromium chromium-driver)",
    ),
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]
REFERENCE = os.environ.get("DOC_HVAE_DEMO_TEXT", FIRST)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The demo's URL, over DOC_HVAE_DEMO_MODEL where set, else a tiny untrained export."""
    model = os.environ.get("DOC_HVAE_DEMO_MODEL") or export_folder(
        tmp_path_factory, ["document", "paragraph", "sentence"]
    )
    limits = LIMITS if "DOC_HVAE_DEMO_MODEL" not in os.environ else None
    pipe = DocHVAEPipeline.from_pretrained(model, device="cpu")
    demo = build_demo(pipe, limits, PreparedCorpus(prepared_dir_of(model)), index_windows=0)
    _, url, _ = launch_demo(demo, port=free_port(), block=False)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def test_the_page_generates_in_the_style_of_a_pasted_text(served, browser, tmp_path):
    browser.get(served)
    wait = WebDriverWait(browser, 120)
    text = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#style-text textarea"))
    text.send_keys(REFERENCE)
    browser.find_element(By.CSS_SELECTOR, "#style-generate").click()

    def generated(b) -> str:
        value = b.find_element(By.CSS_SELECTOR, "#style-output textarea").get_attribute("value") or ""
        return value if value.startswith("=== document 1 in the style of the text ===") else ""

    output = wait.until(generated)
    first_paragraph = output.splitlines()[1].removeprefix("[1] ")
    assert first_paragraph.strip(), output  # a document with text under its heading
    screenshot = Path(os.environ.get("DOC_HVAE_SCREENSHOT") or tmp_path / "demo_style.png")
    browser.find_element(By.CSS_SELECTOR, "#style-output").location_once_scrolled_into_view  # noqa: B018
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000  # a rendered page, not an empty image
