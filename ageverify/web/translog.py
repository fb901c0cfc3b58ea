"""The transparency log over HTTP, as C2SP tlog-tiles under ``/log/``.

``GET /log/checkpoint`` is the latest signed checkpoint (text, revalidated
often); ``GET /log/tile/<L>/<N>[.p/<W>]`` a hash tile and ``GET
/log/tile/entries/<N>[.p/<W>]`` an entry bundle (bytes). A full tile or bundle
never changes, so it is cacheable for a year as immutable; a partial one is
replaced by a wider one as the log grows, so it is cached briefly. Only what
the latest signed checkpoint covers is served. Everything here is public:
anyone may audit the log, so every response allows any origin.
"""

from __future__ import annotations

from flask import Blueprint, Response

from ageverify.translog import tiles
from ageverify.translog.log import LOG_PATH
from ageverify.web.runtime import runtime

bp = Blueprint("translog", __name__, url_prefix=LOG_PATH.rstrip("/"))

# A checkpoint changes with every key event: clients revalidate it at once.
CHECKPOINT_CACHE_CONTROL = "no-store"
FULL_TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"
PARTIAL_TILE_CACHE_CONTROL = "public, max-age=60"
CHECKPOINT_MEDIA_TYPE = "text/plain; charset=utf-8"
TILE_MEDIA_TYPE = "application/octet-stream"


def _public(body: bytes, mimetype: str, cache_control: str) -> Response:
    response = Response(body, content_type=mimetype)
    response.headers["Cache-Control"] = cache_control
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/checkpoint")
def checkpoint() -> Response:
    """The latest signed checkpoint note of the log."""
    return _public(runtime().log.checkpoint(), CHECKPOINT_MEDIA_TYPE, CHECKPOINT_CACHE_CONTROL)


@bp.get("/tile/<path:path>")
def tile(path: str) -> Response:
    """A hash tile ``<L>/<N>[.p/<W>]`` or an entry bundle ``entries/<N>[.p/<W>]``.

    A path that is not the canonical spelling of one answers
    ``tile-path-invalid`` (404), one the log does not cover yet
    ``log-tile-not-found`` (404).
    """
    log = runtime().log
    if path.startswith("entries/"):
        bundle = tiles.parse_entry_bundle_path("tile/" + path)
        body = log.entries(bundle.index, bundle.width)
        partial = bundle.is_partial
    else:
        hash_tile = tiles.parse_tile_path("tile/" + path)
        body = log.tile(hash_tile.level, hash_tile.index, hash_tile.width)
        partial = hash_tile.is_partial
    cache = PARTIAL_TILE_CACHE_CONTROL if partial else FULL_TILE_CACHE_CONTROL
    return _public(body, TILE_MEDIA_TYPE, cache)
