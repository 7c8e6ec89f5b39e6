"""`snakemake --report` after the tiny run, opened in a real headless Chromium: the page
the report's JavaScript builds shows the summary table, the figures and the config."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import EXPERIMENTS, METHODS, REPO, run_snakemake

BROWSERS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"]
STYLESHEET = REPO / "report" / "report.css"


def find_chromium() -> str | None:
    """$CHROMIUM (a path or a name on the PATH), else the first Chromium or Chrome on the PATH."""
    candidates = [os.environ.get("CHROMIUM", ""), *BROWSERS]
    return next(filter(None, (shutil.which(c) for c in candidates if c)), None)


@pytest.fixture(scope="session")  # before `run`: no browser, no workflow run
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(f"no Chromium found: set $CHROMIUM or put one of {', '.join(BROWSERS)} on the PATH")
    return path


def make_report(workdir: Path, path: Path) -> Path:
    """The README's `snakemake --report` for the run in workdir (it only reads the run)."""
    done = run_snakemake(workdir, "--report", str(path), "--report-stylesheet", str(STYLESHEET))
    assert done.returncode == 0, done.stderr[-5000:]
    assert path.stat().st_size > 0
    return path


def check_report(page, url: str, shots: Path) -> None:
    """Navigate the report as a reader would, clicking through its menus, and check what it
    shows; raise AssertionError when the summary table, a figure or the config is missing."""
    from playwright.sync_api import expect

    navbar = page.locator("nav").first  # the menu on the left

    def home():
        page.goto(url)
        page.wait_for_function("typeof app !== 'undefined'")

    def open_category(name: str):
        navbar.get_by_role("link", name=name, exact=True).click()

    def row(path: str):  # a result's row in a (sub)category: [path] [eye] [info]
        return navbar.locator("tr", has_text=path)

    def shown_image(path: str) -> dict:
        """The image the report's viewer shows: it must be `path`'s and have decoded."""
        image = page.locator("#app img[src^='data:image/']").last  # the first is the logo
        image.wait_for(state="attached")
        assert image.get_attribute("src") == results[path]["data_uri"], f"the viewer does not show {path}"
        page.wait_for_function("img => img.complete", arg=image.element_handle())
        box = image.evaluate("img => ({width: img.naturalWidth, top: img.getBoundingClientRect().top})")
        assert box["width"] > 0, f"image {path} did not decode"
        expect(image).to_be_visible()
        return box

    home()
    results = page.evaluate("results")
    categories = page.evaluate("categories")

    # The start page: the workflow description, the rule graph, the config used.
    description = page.locator(".prose").first
    expect(description.locator("h1.title")).to_contain_text("retinal vessel segmentation")
    expect(description).to_contain_text("Raw B-scans")
    expect(page.locator("#rulegraph canvas, #rulegraph svg").first).to_be_visible()
    config = description.locator("details pre")
    expect(config).to_be_hidden()
    description.get_by_text("Configuration used").click()
    expect(config).to_be_visible()
    for key in ["data_root:", "train_defaults:", "experiments:", *(f"{e}:" for e in EXPERIMENTS)]:
        expect(config).to_contain_text(key)
    expect(page.locator(".system-message"), "an rst error in report/workflow.rst").to_have_count(0)
    page.screenshot(path=shots / "workflow.png")

    # Summary: results/summary.csv, rendered as a table in its description.
    assert "Summary" in categories, f"no Summary category among {sorted(categories)}"
    open_category("Summary")
    row("results/summary.csv").locator("a").last.click()
    table = navbar.locator("table", has=page.locator("caption", has_text="per method on the test split"))
    expect(table).to_be_visible()
    header = table.locator("thead th").all_inner_texts()
    assert header[0] == "method" and {"dice", "iou", "hd95"} <= set(header), header
    methods = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.cells[0].innerText.trim())")
    assert methods == METHODS, f"summary table rows: {methods}"
    expect(navbar.locator(".system-message"), "an rst error in a caption").to_have_count(0)
    page.screenshot(path=shots / "summary.png")

    # Dataset: the example figure in the report's image viewer, its top edge in reach.
    home()
    open_category("Dataset")
    row("results/figures/dataset_examples.png").locator("a").first.click()
    box = shown_image("results/figures/dataset_examples.png")
    assert box["top"] >= 0, f"the figure's top edge is cut off ({box}): report.css not applied?"
    page.screenshot(path=shots / "dataset_examples.png")
    row("results/realism.csv").locator("a").last.click()
    expect(navbar.locator("table", has=page.locator("caption", has_text="Realism"))).to_be_visible()

    # Training: one subcategory per experiment, each with its learning curve.
    assert sorted(categories.get("Training", {})) == sorted(EXPERIMENTS), categories.get("Training")
    for exp in EXPERIMENTS:
        home()
        open_category("Training")
        navbar.get_by_role("link", name=exp, exact=True).click()
        path = f"results/{exp}/learning_curve.png"
        row(path).locator("a").first.click()
        shown_image(path)
        row(path).locator("a").last.click()
        expect(navbar.locator(".prose")).to_contain_text(f"Training of experiment {exp}")
    page.screenshot(path=shots / "learning_curve.png")

    # Every image in the report, whichever rule made it, decodes in the browser.
    images = [p for p, r in results.items() if r["mime_type"].startswith("image/")]
    assert len(images) >= 1 + len(EXPERIMENTS), images
    widths = page.evaluate(
        """uris => Promise.all(uris.map(uri => new Promise(done => {
               const img = new Image();
               img.onload = () => done(img.naturalWidth);
               img.onerror = () => done(0);
               img.src = uri;
           })))""",
        [results[p]["data_uri"] for p in images],
    )
    assert all(widths), f"images that did not decode: {dict(zip(images, widths, strict=True))}"


def open_report(report: Path, chromium: str, shots: Path) -> None:
    """check_report on `report` in a headless `chromium`, screenshots into `shots`."""
    from playwright.sync_api import sync_playwright

    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(20_000)
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            check_report(page, report.as_uri(), shots)
            assert not errors, f"JavaScript errors: {errors}"
        finally:
            browser.close()


@pytest.mark.workflow
def test_report_shows_summary_figures_and_config(chromium, run, tmp_path):
    report = make_report(run, tmp_path / "report.html")
    open_report(report, chromium, tmp_path / "screenshots")


def drop_ipn_row(data: bytes) -> bytes:
    return b"".join(line for line in data.splitlines(keepends=True) if not line.startswith(b"ipn,"))


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("broken", "damage", "message"),
    [
        ("results/summary.csv", drop_ipn_row, "summary table rows"),
        ("results/figures/dataset_examples.png", lambda _: b"not a PNG", "did not decode"),
    ],
    ids=["summary-without-ipn", "figure-not-an-image"],
)
def test_report_check_fails_on_broken_report(chromium, run, tmp_path, broken, damage, message):
    """The check above is not vacuous: on the report of a run whose summary table lacks a
    method, or whose figure is no image, it fails, naming what is wrong."""
    workdir = tmp_path / "run"
    shutil.copytree(run, workdir, symlinks=True)
    path = workdir / broken
    path.write_bytes(damage(path.read_bytes()))
    report = make_report(workdir, tmp_path / "report.html")
    with pytest.raises(AssertionError, match=message):
        open_report(report, chromium, tmp_path / "screenshots")
