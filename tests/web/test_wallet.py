"""``/wallet/``: the browser wallet's files, their headers, and nothing else."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from ageverify.web.wallet import CONTENT_SECURITY_POLICY, FILES, WALLET_DIR

CONTRACT_IDS = (
    "get-credentials",
    "credentials",
    "consent",
    "consent-text",
    "share",
    "decline",
    "cannot-prove",
    "back-to-site",
    "status",
)


def _assert_wallet_headers(response, media_type: str) -> None:
    assert response.headers["Content-Type"] == media_type
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_wallet_file_is_served_as_is_with_its_media_type_and_headers(
    client: FlaskClient, name: str
) -> None:
    response = client.get(f"/wallet/{name}")
    assert response.status_code == 200
    _assert_wallet_headers(response, FILES[name])
    assert response.data == (WALLET_DIR / name).read_bytes()


def test_the_wallet_page_is_at_the_folder_url(client: FlaskClient) -> None:
    response = client.get("/wallet/")
    assert response.status_code == 200
    _assert_wallet_headers(response, "text/html; charset=utf-8")
    assert response.data == (WALLET_DIR / "index.html").read_bytes()
    # Without the slash, a redirect to it (relative URLs in the page need it).
    redirect = client.get("/wallet")
    assert redirect.status_code == 308
    assert redirect.headers["Location"].endswith("/wallet/")


def test_an_unchanged_file_is_not_sent_again(client: FlaskClient) -> None:
    first = client.get("/wallet/wallet.js")
    again = client.get("/wallet/wallet.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path",
    [
        "/wallet/nothing.js",
        "/wallet/package.json",
        "/wallet/index.htm",
        "/wallet/WALLET.JS",
        "/wallet/wallet.js.map",
        "/wallet/.wallet.js",
        "/wallet/wallet.js/",
    ],
)
def test_an_unknown_file_is_a_coded_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["code"] == "not-found"


@pytest.mark.parametrize(
    "path",
    [
        "/wallet/../__init__.py",
        "/wallet/../wallet.py",
        "/wallet/..%2fwallet.py",
        "/wallet/..%2Fwallet.py",
        "/wallet/%2e%2e/wallet.py",
        "/wallet/%2e%2e%2fwallet.py",
        "/wallet/%2E%2E%2F%2E%2E%2F__init__.py",
        "/wallet/..%5cwallet.py",
        "/wallet/..\\wallet.py",
        "/wallet/%252e%252e%252fwallet.py",
        "/wallet//etc/passwd",
        "/wallet/%2fetc%2fpasswd",
        "/wallet/wallet.js%00.py",
    ],
)
def test_no_path_reaches_outside_the_wallet_files(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["code"] == "not-found"
    assert b"import" not in response.data


def test_only_get_is_allowed(client: FlaskClient) -> None:
    response = client.post("/wallet/", data=b"x")
    assert response.status_code == 405
    assert response.json["code"] == "method-not-allowed"


class _Page(HTMLParser):
    """The ids, scripts, inline code and labels of the wallet page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.buttons: list[str] = []
        self.meta: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self._in: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids[str(attributes["id"])] = attributes
        self.inline.extend(name for name in attributes if name.startswith("on"))
        if "style" in attributes:
            self.inline.append("style attribute")
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style":
            self.inline.append("style element")
        if tag == "meta":
            self.meta.append(attributes)
        if tag == "link" and attributes.get("href"):
            self.links.append(str(attributes["href"]))
        self._in.append(tag)
        self._text = []

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script" and data.strip():
            self.inline.append("inline script")
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self.buttons.append(" ".join("".join(self._text).split()))
        if self._in and self._in[-1] == tag:
            self._in.pop()


@pytest.fixture(scope="module")
def page() -> _Page:
    parsed = _Page()
    parsed.feed((WALLET_DIR / "index.html").read_text(encoding="utf-8"))
    return parsed


def test_the_page_has_no_inline_code_the_policy_would_block(page: _Page) -> None:
    assert page.inline == []
    assert page.scripts == [{"type": "module", "src": "/wallet/wallet.js"}]
    assert page.links == ["/wallet/icon.svg", "/wallet/wallet.css"]


def test_the_page_has_the_contract_ids_labelled_controls_and_a_viewport(page: _Page) -> None:
    for element_id in CONTRACT_IDS:
        assert element_id in page.ids, element_id
    assert page.ids["credentials"]["data-count"] == "0"
    assert page.ids["status"]["aria-live"] == "polite"
    assert page.ids["status"]["role"] == "status"
    assert all(page.buttons), "every button has a visible label"
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.meta


def test_every_module_imported_is_served_and_cached_by_the_service_worker() -> None:
    imported = set()
    for name in FILES:
        if name.endswith(".js"):
            text = (WALLET_DIR / name).read_text(encoding="utf-8")
            imported.update(re.findall(r"""(?:from|import\()\s*'\./([\w.-]+\.js)'""", text))
    assert imported, "the modules import each other"
    assert imported <= set(FILES)
    service_worker = (WALLET_DIR / "sw.js").read_text(encoding="utf-8")
    block = re.search(r"const FILES = \[(.*?)\];", service_worker, re.S)
    assert block is not None
    cached = set(re.findall(r"'([^']+)'", block.group(1)))
    assert cached == {"/wallet/"} | {f"/wallet/{name}" for name in FILES if name != "sw.js"}
