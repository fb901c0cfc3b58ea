# syntax=docker/dockerfile:1
#
# The ageverify issuer image: the package installed from its wheel, served by
# gunicorn with deploy/gunicorn.conf.py. Built and run by operators (see
# deploy/README.md); tests/test_deploy.py checks this definition.
#
# Nothing secret is in it: the key files and the key passphrase are mounted or
# set when the container runs. It runs as the fixed user 10001:10001 on a
# read-only root filesystem; what it writes goes to mounted volumes (/tmp as a
# tmpfs, with the Prometheus multiprocess folder /tmp/metrics on it or beside it).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a wheel of ageverify and of every dependency ---------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ageverify ./ageverify
# The extras: psycopg 3, the driver of postgresql+psycopg:// URLs, and
# python-pkcs11 for keys in a hardware token (AGEVERIFY_KEY_STORE=pkcs11).
RUN pip wheel --wheel-dir /wheels ".[postgresql,hsm]"

# --- runtime: the wheels installed into a clean image ------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# A fixed numeric user, so that Kubernetes' runAsNonRoot can check it and
# volume ownership (fsGroup, host folders for compose) can be planned.
RUN groupadd --system --gid 10001 ageverify \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin ageverify

# Only the wheels built above, never the index: the image holds what was built.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "ageverify[postgresql,hsm]"

# gunicorn runs optimised (python -OO, see CMD): without docstrings, each
# worker holds about 5 MB less. Its bytecode is compiled here, as nothing can
# be written at run time; the command line keeps its help (no -OO there).
RUN python -OO -m compileall -q -j 0 -x '/(tests?|idle_test)/' \
        "$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"

WORKDIR /app
COPY deploy/gunicorn.conf.py deploy/gunicorn.conf.py

# Mount points owned by the service user: the instance folder (only written
# with the embedded SQLite database) and the key folder (mounted read-only).
RUN install -d -o 10001 -g 10001 -m 0700 \
        /var/lib/ageverify /var/lib/ageverify/instance /var/lib/ageverify/keys

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGEVERIFY_BIND=0.0.0.0:8000 \
    AGEVERIFY_INSTANCE_PATH=/var/lib/ageverify/instance \
    AGEVERIFY_KEYS_DIR=/var/lib/ageverify/keys \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics

USER 10001:10001

EXPOSE 8000

# gunicorn stops gracefully on SIGTERM: workers finish their requests within
# graceful_timeout.
STOPSIGNAL SIGTERM

# slim has no curl: python's urllib asks /healthz on the port of AGEVERIFY_BIND.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('AGEVERIFY_BIND', ':8000').rpartition(':')[2]; opener = urllib.request.build_opener(urllib.request.ProxyHandler({})); opener.open(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

CMD ["python", "-OO", "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
