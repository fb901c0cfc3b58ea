"""``python -m examples.demo_verifier``: serve the demo verifier (see ``run_demo.py``)."""

from __future__ import annotations

import argparse

from examples.demo_verifier import create_verifier_app
from examples.serving import serve


def main() -> None:
    """Parse the command line and serve the demo verifier until stopped."""
    parser = argparse.ArgumentParser(description="DEMO — not a real age check.")
    parser.add_argument("--issuer", required=True, help="the issuer's URL")
    parser.add_argument("--instance-path", required=True, help="the issuer's instance folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    options = parser.parse_args()
    serve(
        lambda: create_verifier_app(options.issuer, options.instance_path),
        host=options.host,
        port=options.port,
    )


if __name__ == "__main__":
    main()
