# The test plugin lives in tests/; it is loaded from the root so notebooks/ (nbval) share it.
pytest_plugins = ["tests.plugin"]
