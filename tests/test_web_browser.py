"""``scriptflow serve`` in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
click from the runs list to a run and a file's lineage, and watch a live run finish by itself."""
from __future__ import annotations

import os
import shutil

import pytest

from conftest import need_service, py_src, wait_for_file
from web_helpers import Served

CHROMIUM = os.environ.get("SCRIPTFLOW_CHROMIUM", "/usr/bin/chromium")

FLOW = f"""
def flow_main():
    a = sf.Task({py_src("open('a.txt', 'w').write('a')")}, outputs="a.txt", uid="make-a").start()
    sf.Task({py_src("open('b.txt', 'w').write(open('a.txt').read() * 2)")}, inputs=[a], outputs="b.txt",
            uid="double<i>it</i>").start().result()

def flow_live():
    sf.Task({py_src(wait_for_file("go.flag", "print('finished', flush=True)"))}, uid="waiter").start().result()
"""


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_service("browser", False, "the playwright package is not installed (pip install playwright)")
    have = os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)
    need_service("browser", bool(have), f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def test_click_from_runs_to_a_run_and_a_lineage(project, browser):
    project.flow(FLOW)
    project.run("run", "main", "--classic", "--name", "nightly", check=True)
    server = Served(project)
    errors: list[str] = []
    try:
        page = browser.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(server.base + "/")
        assert page.locator("table.runs tbody tr").count() == 1
        assert "nightly" in page.inner_text("table.runs")
        page.click("table.runs a[href='/runs/1']")
        page.wait_for_url("**/runs/1")
        assert "Run 1" in page.inner_text("h1")
        assert "double<i>it</i>" in page.inner_text("table.tasks")  # shown as text, not markup
        assert page.locator("table.tasks i").count() == 0
        assert page.locator("svg.gantt rect").count() == 2
        page.click("ul.outputs a[href='/file?path=b.txt']")
        page.wait_for_url("**/file?path=b.txt")
        assert page.locator("svg.lineage g.node-task").count() == 2
        assert page.locator("svg.lineage g.node-file").count() == 2
        page.click("a[href='/file?path=a.txt']")
        page.wait_for_url("**/file?path=a.txt")
        assert "make-a" in page.inner_text("main")
        assert errors == [], errors  # no script error, no blocked resource
    finally:
        server.close()


def test_a_live_run_page_updates_by_itself(project, browser):
    project.flow(FLOW)
    run = project.popen("run", "live", "--classic")
    server = Served(project)
    try:
        page = browser.new_page()
        for _ in range(600):
            page.goto(server.base + "/runs/1")
            if "Running now" in page.inner_text("main"):
                break
            page.wait_for_timeout(100)
        assert "running" in page.inner_text("dl.facts")
        assert page.locator("section.tail h3").inner_text() == "waiter"
        (project.path / "go.flag").write_text("go")
        assert run.wait(timeout=120) == 0
        # no reload from the test: the page's own polling redraws it once the run ends
        from playwright.sync_api import expect

        expect(page.locator("dl.facts")).to_contain_text("succeeded", timeout=60_000)
        assert "Running now" not in page.inner_text("main")
        page.goto(server.base + "/")
        assert "succeeded" in page.inner_text("table.runs")
    finally:
        if run.poll() is None:
            run.kill()
        run.communicate()
        server.close()
