"""A profile's shared history: its URL checked, its password in the secret store (never the
TOML, never shown), joined back only for the database it belongs to."""

from __future__ import annotations

import json

from desktop.core.services import Services
from desktop.core.settings.profile_checks import validate_fields
from desktop.core.settings.profile_model import Profile
from tests.desk_cli import celery_desk as cli

SECRET = "pg-s3cret"
URL = f"postgresql://team:{SECRET}@db.example:5433/history"
BARE = "postgresql://team@db.example:5433/history"


def test_the_history_password_goes_to_the_secret_store_and_is_joined_back_for_that_database() -> (
    None
):
    services = Services.open()
    services.profiles.save(Profile(name="team", history=URL))
    assert SECRET not in services.paths.profiles_file.read_text()
    stored = services.profiles.get("team")
    assert stored.history == BARE and stored.masked().history == BARE
    assert services.history_url(stored) == URL  # the profile's own history
    assert services.history_url(stored, BARE) == URL  # --history naming the same database
    other = "postgresql://team@db.example:5433/elsewhere"
    assert services.history_url(stored, other) == other  # never another database's password
    assert services.history_url(stored, "sqlite") == "sqlite"
    # Saved again with the mask (as the profile dialog does): the password is kept.
    services.profiles.save(Profile(name="team", history=BARE.replace("team@", "team:****@")))
    assert services.history_url(services.profiles.get("team")) == URL


def test_a_history_that_is_not_sqlite_or_postgresql_is_refused_by_field() -> None:
    assert "history" not in validate_fields(Profile(name="p"))
    assert "history" not in validate_fields(Profile(name="p", history=BARE))
    said = validate_fields(Profile(name="p", history="mysql://u@h/db"))["history"]
    assert "scheme 'mysql' is not supported" in said
    assert validate_fields(Profile(name="p", history="postgresql:///db"))["history"] == (
        "History has no host name"
    )


def test_profile_add_history_keeps_the_password_out_of_the_file_and_the_output() -> None:
    added = cli("profile", "add", "team", "--broker", "redis://127.0.0.1:1/0", "--history", URL,
                "--no-from-app")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "password on the command line" in added.stderr
    shown = cli("profile", "show", "team", "--json", "--no-app")
    assert json.loads(shown.stdout)["history"] == BARE.replace("team@", "team:****@")
    assert SECRET not in shown.stdout + added.stdout + added.stderr
    assert SECRET not in Services.open().paths.profiles_file.read_text()
    refused = cli("profile", "add", "bad", "--broker", "redis://127.0.0.1:1/0",
                  "--history", "mysql://u@h/db", "--no-from-app")  # fmt: skip
    assert refused.returncode != 0 and "History scheme 'mysql'" in refused.stderr + refused.stdout


def test_a_url_read_without_its_password_is_saved_back_keeping_the_stored_one() -> None:
    from desktop.core.settings import urls

    kept = urls.keeping_stored_password(BARE)
    assert urls.password_of(kept) == urls.MASK and urls.split_password(kept).url == BARE
    assert urls.keeping_stored_password(URL) == URL  # a password given: saved as given
    assert urls.keeping_stored_password("sqlite") == "sqlite"
    assert urls.keeping_stored_password("postgresql://db.example/h") == "postgresql://db.example/h"
