"""`restormixer serve`'s web page in a real headless browser (Debian's Chromium, driven by Playwright):
pick the task, enlargement and format, upload an image, wait for the result, compare with the slider,
download it; nothing loaded from elsewhere."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restormixer_cli.serve import ServeLimits, create_app

from .conftest import textured_image
from .serve_helpers import CHROMIUM, LiveServer, launch_chromium

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def page_url():
    with LiveServer(create_app(["denoise", "sr"], device="cpu", limits=ServeLimits(queue=2, timeout=60))) as live:
        yield live.url


@pytest.fixture
def page(page_url):
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(accept_downloads=True)
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(page_url)
        yield page
        browser.close()
    elsewhere = [url for url in requested if not url.startswith((page_url, "blob:", "data:"))]
    assert elsewhere == []


def test_upload_compare_and_download(page, tmp_path):
    noisy = np.clip(textured_image(40, 48, seed=1) + np.random.default_rng(1).normal(0, 0.1, (40, 48, 3)), 0, 1)
    source = tmp_path / "noisy.png"
    Image.fromarray((noisy * 255).round().astype(np.uint8)).save(source)
    sync_api.expect(page.locator("#task")).to_have_value("denoise")
    sync_api.expect(page.locator("#files")).to_have_attribute("accept", re.compile(r"image/heic.*\.avif"))  # phone photos
    page.set_input_files("#files", str(source))
    download_link = page.locator("#results a.download")
    sync_api.expect(download_link).to_be_visible(timeout=60_000)
    sync_api.expect(download_link).to_have_text("download noisy_restored.png")
    sync_api.expect(page.locator("#viewer")).to_be_visible()
    assert page.eval_on_selector("#after", "img => img.complete && img.naturalWidth") == 48
    page.locator("#slider").fill("20")
    assert page.eval_on_selector("#compare", "el => el.style.getPropertyValue('--split')") == "20%"
    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename == "noisy_restored.png"
    with Image.open(io.BytesIO(Path(download.value.path()).read_bytes())) as restored:
        assert restored.format == "PNG" and restored.size == (48, 40)


def test_the_enlargement_and_the_output_format_are_picked_on_the_page(page, tmp_path):
    source = tmp_path / "small.png"
    Image.fromarray((textured_image(12, 16, seed=3) * 255).round().astype(np.uint8)).save(source)
    sync_api.expect(page.locator("#scale")).to_be_disabled()  # denoise keeps the size
    page.select_option("#task", "sr")
    sync_api.expect(page.locator("#scale")).to_be_enabled()
    assert page.eval_on_selector_all("#scale option", "options => options.map(o => o.value)") == ["2", "3", "4"]
    page.select_option("#scale", "3")
    page.select_option("#ext", "jpg")
    page.set_input_files("#files", str(source))
    download_link = page.locator("#results a.download")
    sync_api.expect(download_link).to_have_text("download small_restored.jpg", timeout=60_000)
    with page.expect_download() as download:
        download_link.click()
    with Image.open(io.BytesIO(Path(download.value.path()).read_bytes())) as restored:
        assert restored.format == "JPEG" and restored.size == (48, 36)


def test_a_tiff_is_compared_through_png_previews_and_downloaded_as_a_tiff(page, tmp_path):
    """Chromium cannot decode TIFF: both sides of the slider show the server's PNG previews instead."""
    source = tmp_path / "scan.tif"
    Image.fromarray((textured_image(40, 48, seed=2) * 255).round().astype(np.uint8)).save(source)
    page.set_input_files("#files", str(source))
    download_link = page.locator("#results a.download")
    sync_api.expect(download_link).to_be_visible(timeout=60_000)
    for side in ("#before", "#after"):
        sync_api.expect(page.locator(side)).to_have_js_property("naturalWidth", 48, timeout=30_000)
    sync_api.expect(page.locator("#preview-note")).to_be_visible()
    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename == "scan_restored.tif"
    with Image.open(io.BytesIO(Path(download.value.path()).read_bytes())) as restored:
        assert restored.format == "TIFF" and restored.size == (48, 40)


def test_a_bad_file_shows_the_servers_message(page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    page.set_input_files("#files", str(bad))
    sync_api.expect(page.locator("#results .error")).to_contain_text("not an image file", timeout=60_000)
