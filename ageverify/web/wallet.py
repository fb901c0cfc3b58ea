"""``/wallet/``: the browser wallet, static files served as they are.

The wallet is HTML and JavaScript modules in ``ageverify/web/wallet/`` (no
build step). It keeps holder keys and credentials in the browser's IndexedDB,
receives attestations and presentation requests in the URL fragment (which
never reaches this server) and answers a platform's callback directly, so
the issuer never learns where a credential is used.

Only the files listed in :data:`FILES` are served, by exact name: no path
from a request ever reaches the file system. Each response carries a strict
Content Security Policy (scripts, styles and connections to this origin
only, no inline code, no framing) and ``Referrer-Policy: no-referrer``.
``Cache-Control: no-cache`` with an ETag: browsers revalidate each file, and
the wallet's service worker keeps copies for when the issuer is unreachable.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, request

from ageverify.errors import AgeVerifyError

bp = Blueprint("wallet", __name__, url_prefix="/wallet")

WALLET_DIR = Path(__file__).resolve().parent / "wallet"
_JS = "text/javascript; charset=utf-8"
# The wallet's files and their media types: the only names served.
FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "wallet.js": _JS,
    "protocol.js": _JS,
    "store.js": _JS,
    "privacypass.js": _JS,
    "blindrsa.js": _JS,
    "wallet.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
    "sw.js": _JS,
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # The wallet holds keys: no other origin embeds, opens or reads it.
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def _serve(name: str) -> Response:
    """The wallet file ``name`` (a key of :data:`FILES`) with its headers, 304 when unchanged."""
    media_type = FILES.get(name)
    if media_type is None:
        raise AgeVerifyError("not-found")
    try:
        body = (WALLET_DIR / name).read_bytes()
    except FileNotFoundError:
        raise AgeVerifyError("not-found") from None
    response = Response(body, content_type=media_type)
    response.headers.update(HEADERS)
    response.add_etag()
    response.make_conditional(request)  # turns the response into a 304 in place
    return response


@bp.get("/")
def index() -> Response:
    """The wallet page."""
    return _serve("index.html")


@bp.get("/<name>")
def wallet_file(name: str) -> Response:
    """One of the wallet's files, by exact name."""
    return _serve(name)
