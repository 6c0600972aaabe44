# The project's image: the prediction service (`kedro serve`, the default command), training
# (`kedro run`) and the MLflow tracking server (`mlflow server`). See docs/container.md.
#
#   docker build -t california-housing .                                    # from PyPI
#   docker/wheelhouse.sh wheelhouse postgres && \
#   docker build --build-arg WHEELHOUSE=wheelhouse --build-arg EXTRAS=postgres -t california-housing .
#
# (podman: `podman build --format docker` with the same arguments.) It installs exactly the set
# in uv.lock (hash-checked): the runtime dependencies and the extras named in EXTRAS, nothing for
# development or notebooks. Nothing secret is in the image: the tracking URI, log database URL,
# model alias and API key come from the environment (MLFLOW_TRACKING_URI, SERVING_LOG_DB_URL,
# SERVING_MODEL_ALIAS, SERVING_API_KEY) or from a conf/local mounted at /app/conf/local.
ARG PYTHON_IMAGE=python:3.11-slim

# ---- deps: a virtualenv with the locked runtime dependencies --------------------------------
FROM ${PYTHON_IMAGE} AS deps
# A folder of the build context holding wheels (docker/wheelhouse.sh makes one): install from it
# only, with no network. Empty: install from PyPI.
ARG WHEELHOUSE=""
# Extras of pyproject.toml to install too, e.g. "postgres" (comma- or space-separated).
ARG EXTRAS=""
# Non-empty: compile the libraries' bytecode at build time. Every start then imports in ~2.5 s
# instead of ~7 s, for ~230 MB more image (docs/container.md, Figures).
ARG BYTECODE=""
# The uv that reads uv.lock; the version uv.lock pins for the dev extra (a test checks).
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    UV_NO_CACHE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# (With no wheelhouse, pyproject.toml stands in for it: /wheelhouse is then unused.)
COPY ${WHEELHOUSE:-pyproject.toml} /wheelhouse/
RUN set -eu; \
    python -m venv /opt/uv; \
    if [ -n "${WHEELHOUSE}" ]; then \
      /opt/uv/bin/pip install --quiet --no-index --find-links /wheelhouse "uv==${UV_VERSION}"; \
    else \
      /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}"; \
    fi
COPY pyproject.toml uv.lock /src/
# The locked set as a hashed requirements file, installed into a virtualenv without pip. Then the
# packages' own test suites are removed (~60 MB that nothing imports; kedro's templates keep
# theirs: `kedro pipeline create` copies them). Bytecode is not compiled unless BYTECODE is set:
# the image's user cannot write it, so each process compiles what it imports, in memory.
RUN set -eu; \
    extras=""; for extra in $(echo "${EXTRAS}" | tr ',' ' '); do extras="$extras --extra $extra"; done; \
    /opt/uv/bin/uv export --project /src --frozen --no-dev --no-emit-project --quiet \
      --format requirements-txt $extras --output-file /src/requirements.txt; \
    python -m venv --without-pip /opt/venv; \
    index=""; [ -z "${WHEELHOUSE}" ] || index="--no-index --find-links /wheelhouse"; \
    /opt/uv/bin/uv pip install --quiet --python /opt/venv/bin/python --require-hashes $index \
      --requirements /src/requirements.txt; \
    find /opt/venv/lib -depth -type d -name tests -not -path '*/templates/*' -exec rm -rf {} +; \
    [ -z "${BYTECODE}" ] || /opt/venv/bin/python -m compileall -q -j 0 -x /templates/ /opt/venv/lib

# ---- project: the project's own wheel, built from src/ -----------------------------------------
FROM deps AS project
ARG WHEELHOUSE=""
COPY README.md /src/
COPY src /src/src
RUN set -eu; \
    index=""; [ -z "${WHEELHOUSE}" ] || index="--no-index --find-links /wheelhouse"; \
    /opt/uv/bin/uv build --quiet --wheel --out-dir /dist $index /src

# ---- base: the Python image without what a runtime never reads ---------------------------------
# apt's package lists, documentation, translations, and the interpreter's own pip, setuptools and
# wheel (the virtualenv has none either: nothing installs at run time). `FROM scratch` below
# then starts from these files alone, so what is deleted here takes no room.
FROM ${PYTHON_IMAGE} AS base
RUN set -eu; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
      /usr/share/info/* /usr/share/locale/*; \
    python -c "import importlib.util as u, pathlib, shutil; \
spec = u.find_spec('pip'); site = pathlib.Path(spec.origin).parents[1] if spec else None; \
names = ('pip', 'setuptools', 'pkg_resources', '_distutils_hack', 'distutils-precedence', 'wheel'); \
[shutil.rmtree(p) if p.is_dir() else p.unlink() for n in names for p in (site.glob(n + '*') if site else [])]"; \
    bindir=$(dirname "$(command -v python)"); rm -f "$bindir"/pip "$bindir"/pip3 "$bindir"/pip3.*; \
    groupadd --system --gid 10001 app; \
    useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
      --shell /usr/sbin/nologin app

# ---- runtime: the virtualenv, the Kedro project's configuration, a non-root user --------------
FROM scratch AS runtime
COPY --from=base / /
LABEL org.opencontainers.image.title="california-housing" \
      org.opencontainers.image.description="The California Housing champion behind a REST API (kedro serve), training and the MLflow tracking server" \
      org.opencontainers.image.licenses="Apache-2.0"

# Two layers: the dependencies (reused from the cache while uv.lock does not change), then the
# project's wheel (a code change rebuilds only this small one).
COPY --from=deps /opt/venv /opt/venv
# GIT_PYTHON_REFRESH=quiet: the image holds no git repository and no git, so there is no commit
# to record; MLflow then skips it without warning on every run.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    GIT_PYTHON_REFRESH=quiet \
    KEDRO_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true
# (uv is mounted from the build stage for this step only: it is not in the image)
COPY --from=project /dist /tmp/dist
RUN --mount=type=bind,from=deps,source=/opt/uv,target=/opt/uv \
    /opt/uv/bin/uv pip install --quiet --no-cache --python /opt/venv/bin/python --no-deps \
      --no-index --compile-bytecode /tmp/dist/*.whl \
 && /opt/uv/bin/uv pip check --quiet --python /opt/venv/bin/python \
 && rm -rf /tmp/dist

# A Kedro project without its source: the package is installed in /opt/venv. Kedro needs
# pyproject.toml ([tool.kedro]), conf/ and a src/ folder to exist. conf/local is empty (mount
# yours there); data/ is the only place the image writes to by default (the prediction log, the
# spill file, training's outputs and the reports the service shows): mount a volume there.
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
