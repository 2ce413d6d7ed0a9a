"""An app whose import raises is reported with its real error at once (issue 13, defect 12),
even when the import left a thread or a process behind holding the probe's pipes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from desktop.core.app.config import read_effective_config
from desktop.core.settings.profile_model import Profile

LEFTOVERS = {
    "plain": "",
    "thread": "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n",
    "process": "import subprocess, sys\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n",
}


@pytest.mark.parametrize("left", sorted(LEFTOVERS))
def test_an_import_that_raises_is_said_with_its_error_and_line(left: str, tmp_path: Path) -> None:
    module = f"broken_{left}"
    (tmp_path / f"{module}.py").write_text(
        "from celery import Celery\n"
        f"app = Celery('{module}')\n"
        + LEFTOVERS[left]
        + "raise RuntimeError('DATABASE_URL is not set')\n",
        encoding="utf-8",
    )
    line = 3 + LEFTOVERS[left].count("\n")
    profile = Profile(
        name="p", app_module=module, workdir=str(tmp_path), broker_url="redis://127.0.0.1:9/0",
        result_backend="",
    )  # fmt: skip
    started = time.monotonic()
    config = read_effective_config(profile)
    took = time.monotonic() - started
    assert not config.imported
    assert "RuntimeError: DATABASE_URL is not set" in config.error
    assert f"({module}.py:{line})" in config.error
    assert "did not finish" not in config.error
    assert took < 10, took
