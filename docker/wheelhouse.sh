#!/usr/bin/env bash
# Build the wheels that the image installs, on a machine that reaches PyPI, for a build that
# cannot (an air-gapped build: no network inside `docker build` / `podman build`).
#
#   docker/wheelhouse.sh [OUT_DIR] [EXTRA ...]     # OUT_DIR defaults to ./wheelhouse
#   podman build --format docker --build-arg WHEELHOUSE=wheelhouse -t california-housing .
#
# The wheelhouse holds the project's runtime dependencies (pyproject.toml's `dependencies`, plus
# the extras named, as docker/requirements.py prints them; never the dev extra) and the build
# backend (setuptools), not the project itself: the image builds the project from src/, so a
# code change touches neither the wheelhouse nor the image's cached dependency layer.
# The wheels must suit the image's Python: PYTHON (default python3) must be the same minor
# version as the image's (PYTHON_VERSION, default 3.11), on the same platform (Linux, glibc).
# OUT_DIR must lie inside the project (the build context). An existing wheelhouse that already
# satisfies the requirements is reused without going online.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-wheelhouse}
shift || true
python=${PYTHON:-python3}
want=${PYTHON_VERSION:-3.11}
have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have" != "$want" ]; then
  echo "wheelhouse: $python is Python $have but the image runs Python $want;" \
    "set PYTHON to a Python $want interpreter (or PYTHON_VERSION to the image's)." >&2
  exit 2
fi
mkdir -p "$out"
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
"$python" docker/requirements.py pyproject.toml "$@" >"$requirements"
echo "setuptools>=68" >>"$requirements"
pip_wheel=("$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$out")
if ! "${pip_wheel[@]}" --no-index --find-links "$out" -r "$requirements" >/dev/null 2>&1; then
  # (grep drops the notes about this machine's pip configuration that pip prints per package)
  "${pip_wheel[@]}" -r "$requirements" 2> >(grep -v "is neither a file nor a directory" >&2)
fi
echo "wheelhouse: $(find "$out" -name '*.whl' | wc -l) wheels, $(du -sh "$out" | cut -f1) in $out"
