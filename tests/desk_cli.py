"""`celery-desk` as a person runs it, for the tests that check its output and exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def celery_desk(
    *args: str,
    timeout: float = 60,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m desktop ARGS` in a new process (this process's environment unless `env`), its
    output captured as text; a non-zero exit status is the test's to assert, never raised."""
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        env=dict(os.environ if env is None else env),
        cwd=cwd,
        check=False,
    )
