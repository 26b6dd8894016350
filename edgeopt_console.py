"""The ``edgeopt`` console script's entry point, outside the ``edgeopt`` package on purpose.

Importing edgeopt (numpy, scipy, jsonschema, the families) takes a second or two; a console script that
imported ``edgeopt.cli`` directly met a Ctrl-C in that time with a KeyboardInterrupt traceback (issue 19).
This module imports nothing but the standard library before it can catch the interrupt, so Ctrl-C at any
moment of a command ends with one line, "edgeopt: interrupted", and exit code 130.
"""
import sys

EXIT_INTERRUPTED = 130


def run() -> None:
    """Import the command line and run it; Ctrl-C during the imports, or before the command line installs
    its own handling, leaves with the same line and code as Ctrl-C during a command."""
    try:
        from edgeopt.cli import run as command_line
    except KeyboardInterrupt:
        interrupted()
    try:
        command_line()
    except KeyboardInterrupt:  # between the imports and main()'s own handler, or after it returned
        interrupted()


def interrupted() -> None:
    """Say so on standard error and leave with exit code 130 (also ``python -m edgeopt``'s, edgeopt/__init__.py)."""
    try:
        sys.stderr.write("edgeopt: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # a closed or broken standard error: the exit code still says it
    raise SystemExit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    run()
