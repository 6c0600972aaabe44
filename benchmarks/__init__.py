"""Benchmarks of the project's ``kedro run`` targets: ``python -m benchmarks <target>``.

Every measured command runs as a subprocess in a throw-away copy of the project (in the
system temp dir), so benchmarks never touch the project's ``data/`` or ``mlflow.db``.
"""
