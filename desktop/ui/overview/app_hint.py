"""On the Overview, while the profile's Celery app cannot be imported: what that costs, and
how to point the profile at the person's project, a folder picker away.

Why on the Overview: without the app the panel sends with Celery's defaults and knows tasks
only from workers, which a newcomer on a real broker would not guess from an empty palette.
The chosen folder is read for the app module and Django settings (app/project_guess.py, on
the job pool) and the profile editor opens with the three fields filled, to be checked with
its "Read from app" and saved; nothing is saved from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.app.project_guess import guess_project
from desktop.ui.common.accessible import explain
from desktop.ui.common.jobs import Jobs
from desktop.ui.common.panel_parts import muted
from desktop.ui.common.states import STATE_SYMBOLS


class AppHint(QGroupBox):
    # Profile fields to put in the editor before it shows ({} opens it as it is).
    edit_profile = Signal(object)

    def __init__(self, session: Any) -> None:
        super().__init__(f"{STATE_SYMBOLS['warning']} The profile's Celery app is not imported")
        self.session = session
        self.jobs = Jobs(self)
        column = QVBoxLayout(self)
        self.why = QLabel()
        self.why.setWordWrap(True)
        column.addWidget(self.why)
        column.addWidget(
            muted(
                "Point the profile at your project: its working directory (the folder you run "
                "`celery -A …` from, with manage.py for Django), the app module (what follows "
                "-A: `proj`, or `dcelery` in the tutorial's Django project) and, for Django, "
                "DJANGO_SETTINGS_MODULE (`dcelery.settings`). Until then tasks are sent with "
                "Celery's defaults and known only from running workers."
            )
        )
        row = QHBoxLayout()
        self.folder_button = QPushButton("Choose your project's folder…")
        self.folder_button.setToolTip(
            "The folder is read for <package>/celery.py, manage.py and settings.py; the "
            "profile editor then opens with what was found, to check and save"
        )
        self.folder_button.clicked.connect(self.choose_folder)
        self.edit_button = QPushButton("Edit the profile…")
        explain(self.edit_button, "Open the profile editor to set the app module and folder")
        self.edit_button.clicked.connect(lambda: self.edit_profile.emit({}))
        self.found = muted()
        row.addWidget(self.folder_button)
        row.addWidget(self.edit_button)
        row.addWidget(self.found, 1)
        column.addLayout(row)
        self.setVisible(False)

    def show_app_config(self, config: EffectiveConfig, error: str) -> None:
        """Shown while the app cannot be imported, with why; gone once it is."""
        profile = self.session.profile
        missing = bool(error) or not config.imported
        self.setVisible(missing and profile is not None)
        if missing and profile is not None:
            module = profile.app_module or "(none set)"
            where = profile.workdir or "the panel's own directory"
            self.why.setText(f"App module {module} in {where}: {error or 'not imported'}"[:600])

    def choose_folder(self) -> None:
        profile = self.session.profile
        start = profile.workdir if profile is not None and profile.workdir else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Your project's folder", start)
        if folder:
            self.use_folder(folder)

    def use_folder(self, folder: str) -> None:
        """Read `folder` for the app (off the GUI thread), then open the editor filled in."""
        self.jobs.run("guess", self._guess(folder))

    async def _guess(self, folder: str) -> None:
        found = await Jobs.blocking(guess_project, Path(folder))
        self.found.setText(found.note)
        fields = {"workdir": folder}
        if found.app_module:
            fields["app_module"] = found.app_module
        if found.django_settings:
            fields["django_settings"] = found.django_settings
        self.edit_profile.emit(fields)
