"""What a person's project folder says about its Celery app: the module `celery -A` would be
given, and for a Django project its settings module.

Why: a profile whose app cannot be imported needs three fields a newcomer rarely knows by
name (working directory, app module, DJANGO_SETTINGS_MODULE). Celery's own convention puts
the app in `<package>/celery.py` (Django's guide: `proj/celery.py` beside `proj/settings.py`,
with `manage.py` in the folder), or makes it in the package's `app.py` or `__init__.py`, so
the folder a person picks usually answers all three. Only a guess, shown in the profile
editor to be checked ("Read from app" imports it); nothing is imported here (a file is read
as text, its first 20 KB), and only the folder's first level is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MOST_ENTRIES = 500  # a folder picked by mistake (a home directory) is not walked further


@dataclass(frozen=True)
class ProjectGuess:
    app_module: str  # "" when nothing looks like a Celery app
    django_settings: str  # "" when not a Django project (or its settings are not found)
    note: str  # what was found, in a sentence


def _makes_an_app(package: Path) -> bool:
    """A package whose `app.py` or `__init__.py` makes a Celery app (Celery's `-A proj`
    looks for `proj.app` and `proj.celery`, then the package's own attributes)."""
    for name in ("app.py", "__init__.py"):
        try:
            with (package / name).open(encoding="utf-8", errors="replace") as source:
                if "Celery(" in source.read(20_000):
                    return True
        except OSError:
            continue
    return False


def guess_project(folder: Path) -> ProjectGuess:
    """The app module and Django settings `folder` suggests (see the module's docstring)."""
    try:
        entries = sorted(folder.iterdir())[:MOST_ENTRIES]
    except OSError as exc:
        return ProjectGuess("", "", f"{folder} cannot be read: {exc.strerror or exc}")
    packages = [e for e in entries if e.is_dir() and (e / "celery.py").is_file()]
    packages += [e for e in entries if e.is_dir() and e not in packages and _makes_an_app(e)]
    django = (folder / "manage.py").is_file()
    if not packages:
        if (folder / "celery.py").is_file() or (folder / "tasks.py").is_file():
            stem = "celery" if (folder / "celery.py").is_file() else "tasks"
            return ProjectGuess(stem, "", f"found {stem}.py: the app is likely the module '{stem}'")
        return ProjectGuess(
            "", "", f"no <package>/celery.py in {folder.name}: write the app module yourself"
        )
    package = packages[0].name
    settings = f"{package}.settings" if (folder / package / "settings.py").is_file() else ""
    said = (
        f"found {package}/celery.py"
        if (folder / package / "celery.py").is_file()
        else (f"found a Celery app in the package {package}")
    )
    if django:
        said += " and manage.py (Django)" + (f": settings {settings}" if settings else "")
    if len(packages) > 1:
        said += f"; also {', '.join(p.name for p in packages[1:])}"
    return ProjectGuess(package, settings if django else "", said)
