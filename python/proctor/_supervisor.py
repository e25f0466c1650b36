"""The ``proctor-py-supervisor`` program: a supervisor process for ``Daemon(...,
supervisor="process")`` and ``Project.up()``. It runs the Rust supervisor and exits."""

import sys


def main() -> int:
    """Runs the supervisor this process was started for; fails when started by hand."""
    from proctor import _native

    _native.serve_if_requested()
    sys.stderr.write("proctor-py-supervisor is started by proctor, not by hand\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
