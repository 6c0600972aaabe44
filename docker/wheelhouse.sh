#!/usr/bin/env bash
# Download the wheels that the image installs, on a machine that reaches PyPI, for a build that
# cannot (an air-gapped build: no network inside `docker build` / `podman build`).
#
#   docker/wheelhouse.sh [OUT_DIR] [EXTRA ...]     # OUT_DIR defaults to ./wheelhouse
#   podman build --format docker --build-arg WHEELHOUSE=wheelhouse [--build-arg EXTRAS=...] .
#
# The wheelhouse holds exactly what uv.lock pins for the runtime (`uv export --no-dev`, plus the
# extras named; never dev), hash-checked as PyPI publishes them, plus the uv that the build runs
# (the version in the Dockerfile) and the build backend (setuptools) for the project's own wheel.
# The project itself is not in it: the image builds it from src/, so a code change touches
# neither the wheelhouse nor the image's cached dependency layer. Needs uv (pip install uv).
# The wheels must suit the image's Python: PYTHON (default python3) must be the same minor
# version as the image's (PYTHON_VERSION, default 3.11), on the same platform (Linux, glibc).
# OUT_DIR must lie inside the project (the build context). Wheels already there are reused.
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
uv=${UV:-$(command -v uv || true)}
if [ -z "$uv" ]; then
  echo "wheelhouse: uv is not installed; pip install uv (or set UV to its path)." >&2
  exit 2
fi
uv_version=$(sed -n 's/^ARG UV_VERSION=//p' Dockerfile)
extras=()
for arg in "$@"; do
  for extra in ${arg//,/ }; do extras+=(--extra "$extra"); done
done
mkdir -p "$out"
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
"$uv" export --frozen --no-dev --no-emit-project --quiet --format requirements-txt \
  "${extras[@]}" --output-file "$requirements"
download=("$python" -m pip download --quiet --disable-pip-version-check --only-binary :all:
  --dest "$out")
# (grep drops the notes about this machine's pip configuration that pip prints per package)
"${download[@]}" --no-deps --requirement "$requirements" \
  2> >(grep -v "is neither a file nor a directory" >&2)
"${download[@]}" "uv==$uv_version" "setuptools>=68" \
  2> >(grep -v "is neither a file nor a directory" >&2)
echo "wheelhouse: $(find "$out" -name '*.whl' | wc -l) wheels, $(du -sh "$out" | cut -f1) in $out"
