"""/docs in a real headless Chromium: every endpoint listed, and a try-it-out call of /data with a key answers 200."""
import json
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "chromium and chromium-driver are installed by make deps"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--ignore-certificate-errors",
                     "--window-size=1400,2000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    yield driver
    driver.quit()


def test_docs_list_every_endpoint_and_try_it_out_answers(stack, browser):
    wait = WebDriverWait(browser, 30)
    browser.get(stack.https + "/docs/")
    wait.until(ready.presence_of_all_elements_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    listed = {e.get_attribute("data-path") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    documented = set(json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"])
    assert listed == documented

    # Authorize with a key, then GET /data through "Try it out".
    browser.find_element(By.CSS_SELECTOR, "button.authorize").click()
    key_input = wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, ".auth-container input")))
    key_input.send_keys(stack.bench_key)
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
    browser.find_element(By.CSS_SELECTOR, "button.btn-done").click()
    data = browser.find_element(By.CSS_SELECTOR, "#operations-default-get_data, [id$='get_data']")
    data.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "[id$='get_data'] .try-out__btn"))).click()
    wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "[id$='get_data'] .execute"))).click()
    def answered(driver):
        cells = driver.find_elements(By.CSS_SELECTOR, "[id$='get_data'] .live-responses-table tbody .response-col_status")
        return next((c.text.strip() for c in cells if c.text.strip()[:1].isdigit()), None)
    status = wait.until(answered)
    assert status.startswith("200"), status
    body = browser.find_element(By.CSS_SELECTOR, "[id$='get_data'] .live-responses-table .microlight").text
    assert '"data"' in body and '"total"' in body

    # The page's own Content-Security-Policy let everything it needs load.
    blocked = [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]
    assert not blocked, blocked
