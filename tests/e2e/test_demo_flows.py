"""The demo in a real browser: verify once, enter age-restricted rooms on two sites.

Every test drives headless Chromium through the running demo (issuer +
wallet, demo verifier, chat A, chat B) as a person would: clicks, the
keyboard, a phone-sized screen. What the servers see is checked from outside:
the callback bodies the browser sends, and the issuer's log files.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from people import Person, expect

from examples.run_demo import DemoStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _request_in(url: str) -> dict[str, Any]:
    """The presentation request a gate put in the wallet URL's fragment."""
    fragment = urlsplit(url).fragment
    name, _, value = fragment.partition("=")
    assert name == "request", url
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def _wallet_requests(person: Person) -> list[dict[str, Any]]:
    """Start recording the presentation requests gates send the browser to the wallet with.

    They are read from the gates' redirects: the wallet erases its URL's
    fragment as soon as it has read it.
    """
    requests: list[dict[str, Any]] = []

    def record(response: Any) -> None:
        location = response.headers.get("location", "")
        if response.status == 303 and "#request=" in location:
            requests.append(_request_in(location))

    person.page.on("response", record)
    return requests


def _callback_posts(person: Person) -> list[Any]:
    """Start recording the POSTs the browser sends to a gate's callback."""
    posts: list[Any] = []

    def record(request: Any) -> None:
        if request.method == "POST" and urlsplit(request.url).path == "/ageverify/callback":
            posts.append(request)

    person.page.on("request", record)
    return posts


def _host(url: str) -> str:
    return urlsplit(url).netloc


def test_an_adult_verifies_once_and_enters_the_adult_rooms_of_two_sites(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    verifier_requests: list[str] = []
    adult.page.on(
        "request",
        lambda r: verifier_requests.append(r.url) if r.url.startswith(stack.verifier) else None,
    )
    adult.verify_age(30)
    assert len(verifier_requests) >= 1
    verifier_requests.clear()
    requests = _wallet_requests(adult)
    posts = _callback_posts(adult)

    for site, name in ((stack.chat_a, "Demo chat A"), (stack.chat_b, "Demo chat B")):
        adult.ask(site, "adult")
        adult.consent()
        asked = requests[-1]
        assert (asked["aud"], asked["name"], asked["min_age"]) == (site, name, 18)
        text = adult.page.locator("#consent-text").inner_text()
        assert name in text and _host(site) in text
        adult.page.click("#share")
        adult.page.wait_for_url(f"{site}/rooms/adult")
        expect(adult.page.locator("#room")).to_have_attribute("data-room", "adult")

    # No second age check: the browser did not go back to the demo verifier.
    assert verifier_requests == []

    # In the room: a message, then leaving makes the site forget the proof.
    adult.page.fill("#message", "hello from an adult")
    adult.page.click("#send")
    expect(adult.page.locator(".messages")).to_contain_text("hello from an adult")
    adult.page.click("#leave")
    adult.page.wait_for_url(stack.chat_b + "/")
    adult.enter(stack.chat_b, "adult")

    # The same site gets the same credential again. (Two sites share one of
    # the 10 by chance, 1 time in 10, so A's is not compared with B's.)
    issuer_jwts = [json.loads(p.post_data_buffer)["presentation"].split("~")[0] for p in posts]
    assert len(issuer_jwts) == 3
    assert issuer_jwts[1] == issuer_jwts[2]


def test_a_fifteen_year_old_enters_the_teen_room_and_is_refused_from_the_adult_room(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    teen = person()
    teen.verify_age(15)
    teen.enter(stack.chat_a, "teen")

    # Chat A knows "13 to 17": the adult room is refused at once, no wallet.
    teen.ask(stack.chat_a, "adult")
    expect(teen.page.locator("#age-refused")).to_be_visible()
    assert teen.page.url == stack.chat_a + "/rooms/adult"

    # Chat B knows nothing yet: the wallet says it cannot prove 18+.
    teen.ask(stack.chat_b, "adult")
    expect(teen.page.locator("#cannot-prove")).to_be_visible()
    teen.page.click("#back-to-site")
    error = teen.page.locator("#age-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-code", "requirement-not-met")
    assert teen.page.url.startswith(stack.chat_b + "/ageverify/callback")
    assert "#" not in teen.page.url


def test_an_adult_is_refused_from_the_teen_room(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    adult.verify_age(30)

    # Without a proof at chat B, the wallet cannot prove "13 to 17".
    requests = _wallet_requests(adult)
    adult.ask(stack.chat_b, "teen")
    expect(adult.page.locator("#cannot-prove")).to_be_visible()
    assert (requests[0]["min_age"], requests[0]["max_age"]) == (13, 17)
    adult.page.click("#back-to-site")
    expect(adult.page.locator("#age-error")).to_have_attribute("data-code", "requirement-not-met")

    # With an 18+ proof at chat A, the teen room is refused there at once.
    adult.enter(stack.chat_a, "adult")
    adult.ask(stack.chat_a, "teen")
    expect(adult.page.locator("#age-refused")).to_be_visible()


def test_declining_sends_the_person_back_without_a_proof(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    adult.verify_age(30)
    posts = _callback_posts(adult)
    adult.ask(stack.chat_b, "adult")
    adult.consent()
    adult.page.click("#decline")
    error = adult.page.locator("#age-error")
    expect(error).to_have_attribute("data-code", "presentation-declined")
    assert [set(json.loads(p.post_data_buffer)) for p in posts] == [{"error", "nonce"}]
    adult.page.click("#age-error-back")
    adult.page.wait_for_url(stack.chat_b + "/")
    adult.page.click("#enter-adult")
    adult.consent()


def _post_json(url: str, body: bytes, cookie: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback URL of the test stack
        url,
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"}
        | ({"Cookie": cookie} if cookie else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_replayed_presentation_is_refused(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    adult.verify_age(30)
    posts = _callback_posts(adult)
    adult.ask(stack.chat_a, "adult")
    adult.consent()
    # The session cookie as it is while the request is pending: an attacker
    # who copied it could try to present again with it.
    pending_cookie = "; ".join(
        f"{c['name']}={c['value']}" for c in adult.context.cookies(stack.chat_a)
    )
    adult.page.click("#share")
    adult.page.wait_for_url(stack.chat_a + "/rooms/adult")

    assert len(posts) == 1
    body = posts[0].post_data_buffer
    sent = json.loads(body)
    assert set(sent) == {"presentation", "nonce"}
    # Only the fact asked for is disclosed.
    disclosed = [
        json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        for part in sent["presentation"].split("~")[1:-1]
    ]
    assert [(name, value) for _, name, value in disclosed] == [("age_over_18", True)]
    callback = stack.chat_a + "/ageverify/callback"

    # The same body in the same browser session: the pending request is gone.
    current_cookie = "; ".join(
        f"{c['name']}={c['value']}" for c in adult.context.cookies(stack.chat_a)
    )
    status, answer = _post_json(callback, body, current_cookie)
    assert (status, answer["code"]) == (400, "presentation-request-unknown")

    # The same body with the cookie that still lists the request: the nonce
    # was used up by the first verification.
    status, answer = _post_json(callback, body, pending_cookie)
    assert (status, answer["code"]) == (400, "nonce-reused")
    assert sent["presentation"] not in json.dumps(answer)


def test_the_issuer_logs_no_platform_and_no_nonce(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    adult.verify_age(30)
    posts = _callback_posts(adult)
    requests = _wallet_requests(adult)
    for site in (stack.chat_a, stack.chat_b):
        adult.enter(site, "adult")
    nonces = [asked["nonce"] for asked in requests]
    assert len(nonces) == 2
    assert [json.loads(p.post_data_buffer)["nonce"] for p in posts] == nonces

    logs = {path.name: path.read_text(encoding="utf-8") for path in stack.issuer_logs}
    assert set(logs) == {"issuer.log", "issuer-access.log"}
    # Both logs did record the wallet's visits: they are the right files.
    assert "GET /wallet/" in logs["issuer-access.log"]
    assert re.search(r"GET /wallet/\S* 200", logs["issuer.log"])
    for name, text in logs.items():
        for secret in (_host(stack.chat_a), _host(stack.chat_b), *nonces):
            assert secret not in text, f"{name} holds {secret}"
        assert "Traceback" not in text


def test_the_wallet_keeps_its_credentials_across_a_reload(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    adult.verify_age(30)
    adult.page.goto(stack.issuer + "/wallet/")
    expect(adult.page.locator("#credentials")).to_have_attribute("data-count", "10")
    adult.page.reload()
    expect(adult.page.locator("#home")).to_be_visible()
    expect(adult.page.locator("#credentials")).to_have_attribute("data-count", "10")
    # And they still prove: a site is entered after the reload.
    adult.enter(stack.chat_a, "adult")


def test_the_wallet_presents_with_the_issuer_stopped(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    adult.verify_age(30)
    # Chat B verifies once while the issuer runs: it caches the issuer's keys.
    adult.enter(stack.chat_b, "adult")
    adult.page.goto(stack.issuer + "/wallet/")
    registered = adult.page.evaluate(
        """() => Promise.race([
            navigator.serviceWorker.ready.then(() => true),
            new Promise((resolve) => setTimeout(() => resolve(false), 5000)),
        ])"""
    )
    if not registered:
        pytest.skip("the wallet registers no service worker")
    adult.context.clear_cookies()

    wallet_pages: list[Any] = []
    adult.page.on(
        "response", lambda r: wallet_pages.append(r) if r.url == stack.issuer + "/wallet/" else None
    )
    stack.stop_issuer()
    try:
        with pytest.raises(OSError):
            urllib.request.urlopen(stack.issuer + "/healthz", timeout=2)  # noqa: S310
        adult.enter(stack.chat_b, "adult")
    finally:
        stack.start_issuer()
    assert wallet_pages and all(r.from_service_worker for r in wallet_pages)


def test_the_consent_is_reached_and_given_with_the_keyboard(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    adult = person()
    adult.verify_age(30)
    page = adult.page
    page.goto(stack.chat_a + "/")

    def tab_to(selector: str) -> None:
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#enter-adult")
    page.keyboard.press("Enter")
    adult.consent()
    tab_to("#share")
    page.keyboard.press("Enter")
    page.wait_for_url(stack.chat_a + "/rooms/adult")
    tab_to("#message")
    page.keyboard.type("typed, not clicked")
    tab_to("#send")
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("typed, not clicked")


def _fits(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} scrolls sideways: {width} px wide"


def test_a_phone_sized_screen_needs_no_sideways_scrolling(
    person: Callable[..., Person], stack: DemoStack
) -> None:
    phone = person(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = phone.page
    page.goto(stack.verifier + "/")
    _fits(page)
    page.fill("#age", "30")
    page.click("#attest")
    expect(page.locator("#get-credentials")).to_be_visible()
    _fits(page)
    page.click("#get-credentials")
    expect(page.locator("#credentials")).to_have_attribute("data-count", "10")
    _fits(page)
    page.goto(stack.chat_a + "/")
    _fits(page)
    page.click("#enter-adult")
    phone.consent()
    _fits(page)
    page.click("#share")
    page.wait_for_url(stack.chat_a + "/rooms/adult")
    _fits(page)
    page.goto(stack.chat_a + "/rooms/teen")
    expect(page.locator("#age-refused")).to_be_visible()
    _fits(page)
    page.goto(stack.chat_b + "/rooms/teen")
    expect(page.locator("#cannot-prove")).to_be_visible()
    _fits(page)
    page.click("#back-to-site")
    expect(page.locator("#age-error")).to_be_visible()
    _fits(page)
