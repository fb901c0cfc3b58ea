"""``python -m examples.chat``: serve one demo chat site (see ``run_demo.py``)."""

from __future__ import annotations

import argparse

from examples.chat import create_chat_app
from examples.serving import serve


def main() -> None:
    """Parse the command line and serve the chat site until stopped."""
    parser = argparse.ArgumentParser(description="A demo chat site with age-restricted rooms.")
    parser.add_argument("--name", required=True, help="the name shown on the consent screen")
    parser.add_argument("--issuer", required=True, help="the issuer's URL")
    parser.add_argument("--mode", choices=["credential", "privacy-pass"], default="credential")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    options = parser.parse_args()
    audience = f"http://{options.host}:{options.port}"
    serve(
        lambda: create_chat_app(options.name, audience, options.issuer, options.mode),
        host=options.host,
        port=options.port,
    )


if __name__ == "__main__":
    main()
