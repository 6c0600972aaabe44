"""The REST API that serves the registry's champion (``kedro serve``); see ``app.create_app``."""
