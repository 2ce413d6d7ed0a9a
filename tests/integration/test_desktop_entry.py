"""`celery-desk desktop-entry install|uninstall`, as a person runs it: a menu entry that starts
this interpreter in this checkout, with an icon Qt can draw, written whole and removed."""

from __future__ import annotations

import configparser
import os
import shlex
import sys
from pathlib import Path

from PySide6.QtGui import QIcon, QImage

from desktop.core.local.desktop_entry import exec_argument
from tests.desk_cli import celery_desk
from tests.integration.worker_process import REPO_ROOT


def test_install_writes_an_entry_that_starts_this_checkouts_panel(
    tmp_path: Path, qapp: object
) -> None:
    done = celery_desk("desktop-entry", "install", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    path = tmp_path / "celery-desk.desktop"
    assert done.stdout.strip() == f"installed: {path}"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(path, encoding="utf-8")
    values = entry["Desktop Entry"]
    assert values["Type"] == "Application" and values["Name"] == "Celery Desk"
    assert shlex.split(values["Exec"]) == [sys.executable, "-m", "desktop"]
    assert Path(values["Path"]) == REPO_ROOT
    icon = Path(values["Icon"])
    assert icon.is_file() and icon.suffix == ".svg"
    drawn = QIcon(str(icon)).pixmap(64, 64).toImage()
    assert not drawn.isNull() and drawn.format() != QImage.Format.Format_Invalid
    assert len({drawn.pixel(x, y) for x in range(0, 64, 8) for y in range(0, 64, 8)}) > 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary file left"

    removed = celery_desk("desktop-entry", "uninstall", "--dir", str(tmp_path))
    assert removed.returncode == 0 and not path.exists(), removed.stderr
    again = celery_desk("desktop-entry", "uninstall", "--dir", str(tmp_path))
    assert again.returncode == 0 and "no entry was installed" in again.stdout


def test_the_default_place_is_xdg_data_home(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    done = celery_desk("desktop-entry", "install", env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "applications" / "celery-desk.desktop").is_file()


def test_an_unwritable_place_is_said_not_raised(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    done = celery_desk("desktop-entry", "install", "--dir", str(blocked / "apps"))
    assert done.returncode == 1 and "could not be written" in done.stderr
    assert "Traceback" not in done.stderr


def test_exec_arguments_are_quoted_as_the_specification_asks() -> None:
    assert exec_argument("/usr/bin/python3") == "/usr/bin/python3"
    assert exec_argument("/opt/my env/python") == '"/opt/my env/python"'
    assert exec_argument('/a"b$c') == '"/a\\"b\\$c"'
