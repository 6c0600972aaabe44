"""``python -m california_housing``: run the project like ``kedro run``."""

import sys
from pathlib import Path

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project

from california_housing import library_warnings


def main(*args: str, **kwargs: object) -> object:
    """Run the Kedro project's ``run`` command with the given CLI arguments."""
    library_warnings.quiet()  # before the plugins load, as `kedro`'s init entry point does
    package_name = Path(__file__).parent.name
    configure_project(package_name)
    run = find_run_command(package_name)
    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
