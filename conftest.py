# The test plugin lives in tests/; it is loaded from the root so notebooks/ (nbval) share it.
pytest_plugins = ["tests.plugin", "tests.streams"]

# The exercises are not lessons: unsolved ones must FAIL their checkers, so nbval does not run
# them; tests/exercises/ executes both the exercises and their solutions and reads the verdicts.
collect_ignore_glob = ["notebooks/exercises/*"]
