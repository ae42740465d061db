"""report.html as a browser shows it: Debian's headless chromium renders the page.

Two runs of the browser: ``--screenshot`` (a PNG of the first 1280x2000
pixels, which must hold the header, the rows and a chart) and ``--dump-dom``
(the page after parsing, whose text must show the ids, totals and figures,
and whose inline SVG must have come through intact). Each run has its own
throw-away profile, a timeout, and its own process group, which is ended
before the test returns: chromium's helper processes must not outlive it.
"""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.render import write_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no `chromium` binary on PATH: the in-browser check needs Debian's headless chromium "
           "(apt-get install -y chromium)")

WIDTH, HEIGHT = 1280, 2000
BROWSER_TIMEOUT_S = 90
BAR_BLUE = (0x3B, 0x6E, 0xA8)  # charts.BAR_FILL, as RGB


def case(case_id, outcome, scenario, mode, **fields):
    model, backend, device, precision = case_id.split("-")[:4]
    record = {"id": case_id, "model": model, "backend": backend, "device": device, "precision": precision,
              "scenario": scenario, "mode": mode, "outcome": outcome, "log_dir": None, "duration_s": 3.0,
              "accuracy": None, "performance": None, "message": None}
    record.update(fields)
    return record


RESULTS = {
    "cases": [
        case("resnet50-onnxruntime-cpu-fp32-Offline-accuracy", "passed", "Offline", "accuracy",
             accuracy={"metric": "top1", "value": 76.2, "threshold": 75.694, "reference": 76.46}),
        case("resnet50-openvino-cpu-int8-Offline-accuracy", "failed", "Offline", "accuracy",
             accuracy={"metric": "top1", "value": 75.1, "threshold": 75.694, "reference": 76.46},
             message="top1 below threshold"),
        case("resnet50-onnxruntime-cpu-fp32-Offline-performance", "passed", "Offline", "performance",
             performance={"result_validity": "VALID", "metric": "result_samples_per_second",
                          "value": 10789.5, "unit": "samples/s"}, log_dir="/nonexistent/case"),
        case("resnet50-tvm-cpu-int8-Offline-accuracy", "skipped", "Offline", "accuracy",
             message="the TVM backend compiles for the llvm CPU target in fp32 only"),
    ],
    "machine": {"node": "browser-test-node", "system": "Linux", "cpu_count": 2},
    "versions": {"loadgen": "6.0.17", "frameworks": {"numpy": "2.4.6"}},
}


# ---------------------------------------------------------------- running the browser

def _live_members(group: int) -> list[int]:
    """Processes of a process group that still run (zombies waiting for a reaper do not count)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _end_group(group: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while _live_members(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _live_members(group):
            return


def run_chromium(tmp_path: Path, *args: str) -> bytes:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
               "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    # Its own session: chromium's zygote and renderer children share the group we end below.
    browser = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = browser.communicate(timeout=BROWSER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _end_group(browser.pid)
        browser.communicate()
        pytest.fail(f"chromium did not finish in {BROWSER_TIMEOUT_S} s: {' '.join(command)}")
    finally:
        _end_group(browser.pid)
    assert not _live_members(browser.pid), f"chromium processes outlived the run: {_live_members(browser.pid)}"
    assert browser.returncode == 0, f"chromium exited {browser.returncode}:\n{err.decode(errors='replace')[-3000:]}"
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    html_path, _ = write_report(RESULTS, tmp_path_factory.mktemp("report"))
    return html_path


# ---------------------------------------------------------------- the screenshot

def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR", "PNG without its IHDR chunk first"
    return struct.unpack(">II", data[16:24])


def test_screenshot_is_a_non_blank_png_of_the_window_size(report, tmp_path):
    shot = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", report.as_uri())
    data = shot.read_bytes()
    assert png_size(data) == (WIDTH, HEIGHT)

    cv2 = pytest.importorskip("cv2", reason="decoding the screenshot's pixels uses OpenCV (a project dependency)")
    import numpy as np

    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # BGR
    assert pixels is not None and pixels.shape[:2] == (HEIGHT, WIDTH)
    not_white = np.any(pixels < 245, axis=2)
    assert not_white.mean() > 0.01, "the page rendered (almost) blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 16, "too few colours for text and charts"
    blue, green, red = (pixels[..., i].astype(int) for i in range(3))
    bar_pixels = (abs(red - BAR_BLUE[0]) < 8) & (abs(green - BAR_BLUE[1]) < 8) & (abs(blue - BAR_BLUE[2]) < 8)
    assert bar_pixels.sum() > 500, "no chart bar was drawn in the first screen"


# ---------------------------------------------------------------- the page as rendered

class VisibleText(HTMLParser):
    """The text a reader sees: no stylesheet, no document title."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skipping: list[str] = []
        self.parts: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "head"):
            self.skipping.append(tag)

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.parts.append(" ".join(data.split()))

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def test_rendered_page_shows_ids_totals_and_values(report, tmp_path):
    dom = run_chromium(tmp_path, "--dump-dom", report.as_uri()).decode("utf-8")
    page = VisibleText()
    page.feed(dom)
    text = page.text
    assert "2 passed · 1 failed · 1 skipped · 0 error of 4 cases" in text
    for record in RESULTS["cases"]:
        assert record["id"] in text, record["id"]
    for figure in ("76.200", "75.100", "≥ 75.694", "10,789.50 samples/s", "VALID", "logs not found",
                   "browser-test-node", "6.0.17", "the TVM backend compiles for the llvm CPU target in fp32 only"):
        assert figure in text, figure


def test_inline_svg_survives_the_browsers_parser(report, tmp_path):
    dom = run_chromium(tmp_path, "--dump-dom", report.as_uri()).decode("utf-8")
    page = VisibleText()
    page.feed(dom)
    svgs = [attrs for tag, attrs in page.tags if tag == "svg"]
    assert sorted(a["class"] for a in svgs) == ["chart chart-accuracy", "chart chart-throughput"]
    bars = [attrs for tag, attrs in page.tags if tag == "rect" and "bar" in attrs.get("class", "").split()]
    assert len(bars) == 3  # two accuracy bars, one throughput bar
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "link", "iframe")]
