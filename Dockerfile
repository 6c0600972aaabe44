# The prediction service (`kedro serve`) in an image: see README, "Container".
#
#   podman build --format docker -t california-housing .                    # from PyPI
#   docker/wheelhouse.sh && \
#   podman build --format docker --build-arg WHEELHOUSE=wheelhouse -t california-housing .
#
# (`docker build` takes the same arguments, without --format.) Nothing secret is in the image:
# the tracking URI, log database URL, model alias and API key come from the environment
# (MLFLOW_TRACKING_URI, SERVING_LOG_DB_URL, SERVING_MODEL_ALIAS, SERVING_API_KEY) or from a
# conf/local mounted at /app/conf/local.
ARG PYTHON_IMAGE=python:3.11-slim

# ---- deps: a virtualenv with the project's runtime dependencies ------------------------------
FROM ${PYTHON_IMAGE} AS deps
# A folder of the build context holding wheels (docker/wheelhouse.sh makes one): install from it
# only, with no network. Empty: install from PyPI.
ARG WHEELHOUSE=""
# Optional extras of pyproject.toml to install too, e.g. "team" (comma- or space-separated).
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# (With no wheelhouse, pyproject.toml stands in for it: /wheelhouse is then unused.)
COPY ${WHEELHOUSE:-pyproject.toml} /wheelhouse/
COPY pyproject.toml docker/requirements.py /src/
RUN set -eu; \
    python /src/requirements.py /src/pyproject.toml ${EXTRAS} > /src/requirements.txt; \
    if [ -n "${WHEELHOUSE}" ]; then \
      pip install --no-index --find-links /wheelhouse -r /src/requirements.txt; \
    else \
      pip install -r /src/requirements.txt; \
    fi

# ---- project: the project's own wheel, built from src/ -----------------------------------------
FROM deps AS project
ARG WHEELHOUSE=""
COPY README.md /src/
COPY src /src/src
RUN set -eu; \
    if [ -n "${WHEELHOUSE}" ]; then \
      pip wheel --no-deps --no-index --find-links /wheelhouse --wheel-dir /dist /src; \
    else \
      pip wheel --no-deps --wheel-dir /dist /src; \
    fi

# ---- runtime: the virtualenv, the Kedro project's configuration, a non-root user --------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="california-housing" \
      org.opencontainers.image.description="The California Housing champion behind a REST API (kedro serve)" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
      --shell /usr/sbin/nologin app

# Two layers: the dependencies (~1 GB, reused from the cache while they do not change), then
# the project's wheel (a code change rebuilds only this small one).
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    KEDRO_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true
COPY --from=project /dist /tmp/dist
RUN pip install --no-cache-dir --no-deps --no-index /tmp/dist/*.whl \
 && rm -rf /tmp/dist \
 && pip check

# A Kedro project without its source: the package is installed in /opt/venv. Kedro needs
# pyproject.toml ([tool.kedro]), conf/ and a src/ folder to exist. conf/local is empty (mount
# yours there); data/ is the only place the service writes to by default (the prediction log).
WORKDIR /app
COPY pyproject.toml ./
COPY conf ./conf
RUN mkdir -p src conf/local data \
 && chown app:app data

USER app
EXPOSE 8000
# podman keeps a HEALTHCHECK only in the docker image format (podman build --format docker).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# Exec form: the server is PID 1 and gets SIGTERM itself (it stops accepting, finishes the
# requests in flight and flushes the prediction log); give it time (docker stop -t 60).
STOPSIGNAL SIGTERM
CMD ["kedro", "serve", "--host", "0.0.0.0", "--port", "8000"]
