"""Print the project's runtime requirements, one per line, from pyproject.toml.

Both the wheelhouse script and the image's build stage call this, so the two install the same
set: ``[project] dependencies`` plus the optional extras named on the command line (never the
``dev`` extra unless asked). Standard library only: it runs before anything is installed.

Usage: ``python docker/requirements.py [PYPROJECT] [EXTRA ...]``
"""

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """Runtime requirements of the project, plus those of ``extras``.

    Args:
        pyproject: Path of the project's ``pyproject.toml``.
        extras: Names of ``[project.optional-dependencies]`` groups to add.

    Returns:
        Requirement strings, in the order pyproject.toml lists them.

    Raises:
        SystemExit: Naming an extra that pyproject.toml does not define.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise SystemExit(f"Unknown extra(s) {unknown} in {pyproject}; defined: {sorted(optional)}.")
    found = list(project.get("dependencies", []))
    for extra in extras:
        found += [req for req in optional[extra] if req not in found]
    return found


if __name__ == "__main__":
    args = sys.argv[1:]
    path = Path(args.pop(0)) if args and args[0].endswith(".toml") else Path("pyproject.toml")
    names = [name for arg in args for name in arg.replace(",", " ").split()]
    print("\n".join(requirements(path, names)))
