"""The gate's two HTML pages: the callback a wallet returns to, and a refusal.

Small, accessible pages: a viewport for phones, one ``<main>`` with an
``<h1>``, plain words, links that work by keyboard. No inline script or
style, so that they run under a strict Content-Security-Policy: the
callback's script and the stylesheet are files the gate serves.
"""

from __future__ import annotations

from html import escape

__all__ = ["callback_page", "refusal_page"]

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} - {name}</title>
<link rel="stylesheet" href="{style}">
{script}</head>
<body>
<main>
"""

_TAIL = """</main>
</body>
</html>
"""


def _head(title: str, name: str, style: str, script: str | None = None) -> str:
    script_tag = "" if script is None else f'<script src="{escape(script)}" defer></script>\n'
    return _HEAD.format(
        title=escape(title), name=escape(name), style=escape(style), script=script_tag
    )


def callback_page(*, name: str, home: str, script: str, style: str) -> str:
    """The page at ``/ageverify/callback``.

    Its script (``script``) reads the wallet's answer from the URL fragment,
    erases it, posts it to the platform ``name`` and follows the ``next``
    path it gets, or shows the refusal in ``#age-error`` (with
    ``data-code``) and a link ``#age-error-back``. ``home`` is where that
    link goes until the answer says otherwise.
    """
    return (
        _head("Checking your proof of age", name, style, script)
        + f"""<h1>Checking your proof of age</h1>
<p id="age-status" role="status">One moment: {escape(name)} is checking your wallet's answer.</p>
<div id="age-error" role="alert" hidden>
<p id="age-error-text"></p>
<p><a id="age-error-back" href="{escape(home)}">Go back to {escape(name)}</a></p>
</div>
<noscript>
<p>This page needs JavaScript to pass your wallet's answer to {escape(name)}.
<a href="{escape(home)}">Go back to {escape(name)}</a></p>
</noscript>
"""
        + _TAIL
    )


def refusal_page(*, name: str, description: str, home: str, style: str) -> str:
    """The ``403 requirement-not-met`` page: ``#age-refused`` says why, a link leads ``home``."""
    return (
        _head("You cannot enter this page", name, style)
        + f"""<h1>You cannot enter this page</h1>
<p id="age-refused" data-code="requirement-not-met">{escape(description)}</p>
<p><a id="age-refused-back" href="{escape(home)}">Go back to {escape(name)}</a></p>
"""
        + _TAIL
    )
