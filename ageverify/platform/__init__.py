"""The platform gate: ask for a proof of age before age-restricted pages.

A platform installs this with the SDK; it needs no database and never
imports the issuer. :class:`AgeGate` is the Flask extension
(``@gate.require(min_age=18)``), :class:`AgeGateMiddleware` the same gate
for any WSGI application, with path rules of :class:`Requirement`.

A browser without a proof is sent to its wallet with a presentation request
in the URL fragment (so the issuer serving the wallet never learns the
platform) and comes back to ``/ageverify/callback``; an API client gets
``401`` with a ``WWW-Authenticate: AgeCredential`` (or ``PrivateToken``)
challenge. Only the age facts proven and an expiry are kept in the session.
"""

from __future__ import annotations

from ageverify.platform.core import Requirement
from ageverify.platform.flask import AgeGate
from ageverify.platform.wsgi import AgeGateMiddleware

__all__ = ["AgeGate", "AgeGateMiddleware", "Requirement"]
