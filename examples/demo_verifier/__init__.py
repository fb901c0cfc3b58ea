"""The demo verifier's web page: type an age, get an attestation in your wallet.

DEMO — not a real age check. It stands in for an accredited verifier (an ID
document check, a bank, an eID) so the flow can be tried in a browser: it
signs whatever age it is given with the demo verifier's key, which lives in
the issuer's instance folder (``ageverify.demo.DemoVerifier``), and sends the
browser to the wallet with the attestation in the URL fragment, where no
server log sees it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, redirect, render_template, request
from flask.typing import ResponseReturnValue

from ageverify.demo import DEMO_VERIFIER_NAME, DemoVerifier, age_facts
from ageverify.sdk.verifier import DISCOVERY_PATH, fetch_url

__all__ = ["create_verifier_app"]

# Ages outside this range are typing mistakes, not people.
MAX_AGE = 130

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_verifier_app(
    issuer: str,
    instance_path: str | Path,
    *,
    wallet_url: str | None = None,
    thresholds: Iterable[int] | None = None,
) -> Flask:
    """Build the demo verifier for the issuer at ``issuer``.

    ``instance_path`` is the issuer's instance folder, which holds the demo
    verifier's key. ``wallet_url`` defaults to ``{issuer}/wallet/``.
    ``thresholds`` are the ages attested; ``None`` reads them from the
    issuer's discovery document at the first attestation.
    """
    app = Flask(__name__)
    verifier = DemoVerifier.load_or_create(Path(instance_path))
    wallet = wallet_url or f"{issuer}/wallet/"
    known = _Thresholds(issuer, thresholds)
    wallet_origin = "{0.scheme}://{0.netloc}".format(urlsplit(wallet))
    # The form's answer redirects to the wallet: browsers apply form-action to
    # where a submission is redirected, so the wallet's origin is listed too.
    csp = (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action 'self' {wallet_origin}; base-uri 'none'; frame-ancestors 'none'"
    )

    @app.get("/")
    def form() -> str:
        return render_template("index.html", name=DEMO_VERIFIER_NAME, wallet=wallet)

    @app.post("/")
    def attest() -> ResponseReturnValue:
        text = request.form.get("age", "").strip()
        if not (text.isascii() and text.isdigit() and int(text) <= MAX_AGE):
            error = f"Type an age in whole years, from 0 to {MAX_AGE}."
            page = render_template(
                "index.html", name=DEMO_VERIFIER_NAME, wallet=wallet, error=error
            )
            return page, 400
        try:
            ages = known.get()
        except (OSError, ValueError):
            error = f"The issuer at {issuer} does not answer; start it and try again."
            page = render_template(
                "index.html", name=DEMO_VERIFIER_NAME, wallet=wallet, error=error
            )
            return page, 503
        attestation = verifier.attest(issuer=issuer, age_over=age_facts(int(text), ages))
        # The fragment carries the attestation to the wallet without any server seeing it.
        return redirect(f"{wallet}#attestation={attestation}", code=303)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


class _Thresholds:
    """The ages the issuer attests: given, or read once from its discovery document."""

    def __init__(self, issuer: str, given: Iterable[int] | None) -> None:
        self._url = issuer + DISCOVERY_PATH
        self._ages = None if given is None else tuple(given)
        self._lock = threading.Lock()

    def get(self) -> tuple[int, ...]:
        with self._lock:
            if self._ages is None:
                document = json.loads(fetch_url(self._url))
                ages = document.get("thresholds") if isinstance(document, dict) else None
                if not isinstance(ages, list) or not all(
                    isinstance(age, int) and not isinstance(age, bool) for age in ages
                ):
                    raise ValueError("the discovery document has no thresholds")
                self._ages = tuple(ages)
            return self._ages
