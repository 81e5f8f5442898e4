"""The README's picture of the `restormixer serve` page (docs/serve.png).

    python scripts/serve_screenshot.py [--out docs/serve.png]

Serves every shipped checkpoint on 127.0.0.1, opens the page in Debian's headless Chromium, picks
the denoise task and WebP output, uploads a scikit-image sample photo (a cat, CC0) under Gaussian
noise (sigma 25, seed 0), waits for the result, sets the before/after slider and saves a
screenshot in 256 colours (under 300 KB). Needs the test extra (Playwright) and Chromium (`apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from restormixer_cli.serve import create_app  # noqa: E402
from restormixer_cli.training.degradations import make_degradation  # noqa: E402
from tests.serve_helpers import LiveServer, launch_chromium  # noqa: E402


def noisy_photo(path: Path) -> None:
    clean = data.chelsea()[40:280, 60:420].astype(np.float32) / 255
    noisy = make_degradation("noise:25")(clean, np.random.default_rng(0))
    Image.fromarray((np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, LiveServer(create_app()) as live, \
            sync_playwright() as playwright:
        photo = Path(scratch) / "chelsea_noisy.png"
        noisy_photo(photo)
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 820, "height": 700})
        page.goto(live.url)
        page.select_option("#task", "denoise")
        page.select_option("#ext", "webp")
        page.set_input_files("#files", str(photo))
        expect(page.locator("#results a.download")).to_be_visible(timeout=120_000)
        page.locator("#slider").fill("40")
        shot = Path(scratch) / "page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(shot).convert("RGB").quantize(256).save(args.out, optimize=True)  # the noise compresses badly
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
