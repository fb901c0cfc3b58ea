"""The issuer's HTTP layer: one blueprint module per area, plus the shared envelope.

``wellknown`` (discovery and keys), ``issuance`` (``POST /v1/credentials``),
``verification`` (``POST /v1/presentations/verify``), ``admin`` (registry and
key operations), ``ops`` (health, readiness, metrics) and ``openapi`` (the API
description). ``envelope`` parses bodies and writes the access log; ``errors``
renders every failure as ``{"code", "description"}``; ``runtime`` holds the
parts a request works with. Views parse, call one domain function, render.
"""
