"""report.html as a person sees it: opened in headless Chromium (driven over DevTools), on a desktop and a phone."""

from __future__ import annotations

import pytest
from browser import OVERFLOW_JS, BrowserError, Chromium, png_spread

PHONE = (390, 844)


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module; missing Chromium fails loudly (CI installs it), it is never skipped."""
    try:
        chromium = Chromium()
    except (BrowserError, OSError) as exc:
        pytest.fail(f"cannot start headless Chromium: {exc}")
    with chromium:
        yield chromium


@pytest.fixture(scope="module")
def desktop(browser, page_report):
    """The report opened at 1100 x 900 CSS pixels."""
    page = browser.new_page(1100, 900)
    url = (page_report / "report.html").as_uri()
    page.open(url)
    return page, url


def test_no_console_error_and_no_exception(desktop):
    page, _url = desktop
    assert page.evaluate("document.readyState") == "complete"
    assert page.console_errors() == []


def test_no_network_request_of_any_kind(desktop):
    page, url = desktop
    requests = page.requests()
    assert requests[0] == url  # the page itself
    assert [u for u in requests[1:] if not u.startswith("data:")] == []


def test_the_harness_sees_requests_and_console_errors(browser, tmp_path):
    # The two checks above mean something only if a page that fetches or fails is caught.
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
                   "<script>console.error('boom')</script><p>x</p>", encoding="utf-8")  # fmt: skip
    page = browser.new_page(400, 300)
    page.open(bad.as_uri())
    assert "http://127.0.0.1:9/x.css" in page.requests()
    assert any("boom" in e for e in page.console_errors())
    page.close()


def test_screenshot_is_not_blank(desktop):
    page, _url = desktop
    top = page.screenshot()
    assert png_spread(top) > 10  # a one-colour page is about 0
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    assert png_spread(page.screenshot()) > 10
    page.evaluate("window.scrollTo(0, 0)")


def test_every_image_is_decoded_and_shown(desktop):
    page, _url = desktop
    broken = page.evaluate(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0 || i.getBoundingClientRect().width === 0)"
        ".map(i => i.alt)"
    )
    assert page.evaluate("document.images.length") > 5 and broken == []


def test_nothing_is_wider_than_a_phone(browser, page_report):
    page = browser.new_page(*PHONE)
    page.resize(*PHONE, mobile=True)  # honours the report's viewport meta tag, as a phone does
    page.open((page_report / "report.html").as_uri())
    found = page.evaluate(OVERFLOW_JS)
    page.close()
    assert found["viewport"] == PHONE[0]
    assert (found["scrollWidth"], found["elements"]) == (PHONE[0], []), found
