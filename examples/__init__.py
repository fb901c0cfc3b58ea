"""Runnable examples around the issuer: a demo verifier, a demo chat platform, and
``run_demo.py``, which starts them with an issuer for a trial in the browser."""
