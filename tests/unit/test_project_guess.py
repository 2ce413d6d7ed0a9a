"""What a project folder says about its Celery app (core/app/project_guess.py)."""

from __future__ import annotations

from pathlib import Path

from desktop.core.app.project_guess import guess_project


def write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_django_project_gives_its_package_and_settings(tmp_path: Path) -> None:
    write(tmp_path / "manage.py")
    write(tmp_path / "dcelery" / "celery.py")
    write(tmp_path / "dcelery" / "settings.py")
    write(tmp_path / "app1" / "tasks.py")
    found = guess_project(tmp_path)
    assert (found.app_module, found.django_settings) == ("dcelery", "dcelery.settings")
    assert "manage.py (Django)" in found.note


def test_a_plain_package_a_module_or_nothing(tmp_path: Path) -> None:
    write(tmp_path / "proj" / "celery.py")
    write(tmp_path / "proj" / "settings.py")  # not Django without manage.py
    assert (guess_project(tmp_path).app_module, guess_project(tmp_path).django_settings) == (
        "proj",
        "",
    )
    alone = tmp_path / "alone"
    write(alone / "tasks.py")
    assert guess_project(alone).app_module == "tasks"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert guess_project(empty).app_module == "" and "yourself" in guess_project(empty).note
    missing = guess_project(tmp_path / "nowhere")
    assert missing.app_module == "" and "cannot be read" in missing.note


def test_this_repository_names_the_shipped_app() -> None:
    root = Path(__file__).resolve().parents[2]
    assert guess_project(root).app_module == "workers"
