"""The probe runs as a script from desktop/core/app/, whose neighbours are named config.py and
queues.py: a person's project with a `config` package (cookiecutter-django's layout) must import
its own, not the panel's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from desktop.core.app import probe


def test_the_persons_config_package_is_not_shadowed_by_the_probes_neighbours(
    tmp_path: Path,
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "__init__.py").write_text('CELERY_QUEUE = "from-the-persons-config"\n')
    (tmp_path / "proj.py").write_text(
        "from celery import Celery\n"
        "import config\n"
        "app = Celery('proj', broker='redis://127.0.0.1:1/0')\n"
        "app.conf.task_default_queue = config.CELERY_QUEUE\n"
    )
    done = subprocess.run(
        [sys.executable, probe.__file__, "proj", "redis"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith(probe.MARKER))
    result = json.loads(line[len(probe.MARKER) :])
    assert result["ok"], result
    assert result["settings"]["task_default_queue"] == "from-the-persons-config"
