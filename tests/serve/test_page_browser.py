"""The web page in a real headless Chromium (Debian's, driven by playwright; `make test-serve`
installs both): upload a video, ask, watch the answer stream in, follow up, stop, examples.
A screenshot is saved (SERVE_SCREENSHOT=path also copies it there, e.g. for the README)."""

import os
import shutil
from pathlib import Path

import pytest
from serve_helpers import start_server, stop_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000
RECORD_LENGTHS = """() => {
  window.__lengths = [];
  new MutationObserver(() => {
    const bots = document.querySelectorAll('#chat [data-testid=bot]');
    if (bots.length) window.__lengths.push(bots[bots.length - 1].innerText.length);
  }).observe(document.querySelector('#chat'),
             {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def page_server(model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("page_server") / "server.log"
    server = start_server(
        model_dir,
        log,
        "--name",
        "tiny-longva",
        "--frames",
        8,
        "--max-frames",
        64,
        "--max-new-tokens",
        8000,
    )
    yield server
    assert stop_server(server) == 0, server.log_tail()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium_profile")  # a fresh --user-data-dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, page_server):
    tab = browser.new_page()
    tab.set_default_timeout(WAIT_MS)
    tab.goto(page_server.url)
    tab.wait_for_selector("#question textarea")
    yield tab
    tab.close()


def set_max_new_tokens(page, n: int) -> None:
    box = page.locator("#max_new input[type=number]")
    if not box.is_visible():
        page.get_by_text("Answer settings").click()  # open the accordion
    box.fill(str(n))
    box.press("Enter")
    wait_text(page, "#budget", f"up to {n:,} answer tokens")


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)", arg=[selector, text]
    )


def ask(page, question: str, bots_before: int) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#chat [data-testid=bot]').length > n"
        " && document.querySelector('#timings').innerText.includes('tokens/s')",
        arg=bots_before,
    )


def bot_texts(page) -> list[str]:
    return page.locator("#chat [data-testid=bot]").all_inner_texts()


def test_upload_ask_stream_and_follow_up(page, media, page_server):
    page.locator("#video input[type=file]").set_input_files(media / "clip.mp4")
    wait_text(page, "#budget", "video: 8 frames x 4 tokens = 32")  # the clip has 12; 8 by default
    set_max_new_tokens(page, 600)
    assert ": fits" in page.locator("#budget").inner_text()
    page.evaluate(RECORD_LENGTHS)
    ask(page, "What happens in the video?", 0)
    lengths = page.evaluate("window.__lengths")
    final = len(bot_texts(page)[-1])
    growing = sorted({n for n in lengths if 0 < n < final})
    assert len(growing) >= 3, lengths  # the answer arrived in pieces, not at once
    assert "(600 tokens" in page.locator("#timings").inner_text()
    for part in ("decode", "vision", "prefill", "tokens/s"):
        assert part in page.locator("#timings").inner_text()
    captions = page.locator("#strip").inner_text()
    assert page.locator("#strip img").count() == 8 and "#0" in captions and "#11" in captions
    # a follow-up keeps the video in the conversation: the budget says so, the answer comes
    wait_text(page, "#budget", "already in the conversation")
    set_max_new_tokens(page, 20)
    ask(page, "And then?", 1)
    users = page.locator("#chat [data-testid=user]").all_inner_texts()
    assert users == ["What happens in the video?", "And then?"] and len(bot_texts(page)) == 2
    assert page_server.health()["queue"]["failed"] == 0


def test_stop_button_cancels_the_generation(page, media, page_server):
    before = page_server.health()["queue"]["cancelled"]
    page.locator("#video input[type=file]").set_input_files(media / "clip.mp4")
    set_max_new_tokens(page, 8000)
    page.locator("#question textarea").fill("Describe everything.")
    page.locator("#send").click()
    page.wait_for_function(
        "() => (document.querySelector('#chat [data-testid=bot]')?.innerText || '').length > 20"
    )
    page.locator("#stop").click()
    wait_text(page, "#chat", "[stopped; not kept in the conversation]")
    page_server.wait_idle()
    assert page_server.health()["queue"]["cancelled"] == before + 1


def test_bundled_example_and_screenshot(page, page_server, tmp_path):
    page.get_by_text("What happens in this video?").first.click()  # the synthetic movie example
    wait_text(page, "#budget", "video: 8 frames x 4 tokens = 32")
    assert page.locator("#question textarea").input_value() == "What happens in this video?"
    set_max_new_tokens(page, 24)
    ask(page, "What happens in this video?", 0)
    ask(page, "And at the end?", 1)
    assert page.locator("#strip img").count() == 8
    shot = tmp_path / "serve_page.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("SERVE_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
