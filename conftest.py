# The test plugin lives in tests/; it is loaded from the root so notebooks/ (nbval) share it.
pytest_plugins = ["tests.plugin", "tests.streams"]

# The exercises are not lessons: unsolved ones must FAIL their checkers, so nbval does not run
# them; tests/exercises/ executes both the exercises and their solutions and reads the verdicts.
collect_ignore_glob = ["notebooks/exercises/*"]

# `make test &` from a script (a non-interactive shell) starts with SIGINT ignored, and every
# child inherits that: the Ctrl-C drills would send a signal nobody hears. A handler set here
# (pytest and each xdist worker import this file in their main thread) is reset to the default
# in every process the tests start, so their Ctrl-C works as in a terminal.
import signal  # noqa: E402

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
