"""`celery-desk alerts list|add|remove`: the profile's rules file from the command line."""

from __future__ import annotations

import json

from desktop.core.monitor.alert_rules import rules_path
from desktop.core.services import Services
from desktop.core.settings.paths import Paths
from desktop.core.settings.profile_model import Profile
from tests.desk_cli import celery_desk as cli


def test_add_list_remove_and_a_damaged_file_said(isolated_config: Paths) -> None:
    profile = Profile(name="p", broker_url="redis://127.0.0.1:1/0", result_backend="")
    Services.open().profiles.save(profile)
    added = cli("--profile", "p", "alerts", "add", "fails", "--kind", "task-failures",
                "--threshold", "3", "--minutes", "10", "--task", "proj.*")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "failing more than 3 in 10 min" in added.stdout
    refused = cli("--profile", "p", "alerts", "add", "bad", "--kind", "failure-rate",
                  "--threshold", "150")  # fmt: skip
    assert refused.returncode == 2 and "above 100 %" in refused.stderr
    listed = json.loads(cli("--profile", "p", "alerts", "list", "--json").stdout)
    assert listed == [{"name": "fails", "kind": "task-failures", "threshold": 3.0,
                       "minutes": 10.0, "task": "proj.*"}]  # fmt: skip
    assert cli("--profile", "p", "alerts", "remove", "fails").returncode == 0
    assert json.loads(cli("--profile", "p", "alerts", "list", "--json").stdout) == []
    assert cli("--profile", "p", "alerts", "remove", "fails").returncode == 2

    path = rules_path(isolated_config, "p")
    path.write_text("[[rules]]\nname = ")
    damaged = cli("--profile", "p", "alerts", "list")
    assert damaged.returncode == 0
    assert "is not valid TOML" in damaged.stderr and "no alert rule is checked" in damaged.stderr
