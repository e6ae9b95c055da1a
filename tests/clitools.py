"""The real ``birdkit`` entry point in a subprocess, and the one-line error check, for CLI tests."""

import subprocess
import sys


def cli(*args, cwd=None):
    """The real entry point in a subprocess: what a user's terminal shows (stdout, stderr, status)."""
    return subprocess.run([sys.executable, "-c", "from birdkit.cli.main import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def one_line_error(res, *needles):
    """A refusal as birdkit prints it: exit status 2, one line on stderr starting with ``error:``, no traceback."""
    assert res.returncode == 2, (res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr + res.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:"), err
    for n in needles:
        assert n in err, err
