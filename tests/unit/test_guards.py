"""Guards over the whole source: nothing in desktop/ or workers/ can unpickle, eval, exec, run
a shell or load YAML unsafely (read by `ast`, so a comment or a method of the same name such as
Qt's `exec()` or Redis' `eval()` is not a finding), and a password given to the CLI never shows
in what it prints, in files outside the secret store, or on a worker's command line."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from desktop.core.settings.paths import Paths
from tests.desk_cli import celery_desk as _cli

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("desktop", "workers")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "shelve", "marshal", "cloudpickle"}
UNSAFE_BUILTINS = {"eval", "exec", "__import__"}
UNSAFE_CALLS = {
    ("pickle", "loads"), ("pickle", "load"), ("pickle", "Unpickler"),
    ("marshal", "loads"), ("marshal", "load"),
    ("yaml", "load"), ("yaml", "load_all"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
    ("builtins", "eval"), ("builtins", "exec"),
}  # fmt: skip


def findings(source: str, where: str) -> list[str]:
    """Each unsafe construct in `source` as 'where:line what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{line} import {a.name}" for a in node.names
                      if a.name.split(".")[0] in UNSAFE_MODULES]  # fmt: skip
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                found.append(f"{line} from {node.module} import")
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name) and function.id in UNSAFE_BUILTINS:
                found.append(f"{line} {function.id}(")
            if (
                isinstance(function, ast.Attribute)
                and isinstance(function.value, ast.Name)
                and (function.value.id, function.attr) in UNSAFE_CALLS
            ):
                found.append(f"{line} {function.value.id}.{function.attr}(")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and not keyword.value.value
                ):
                    found.append(f"{line} shell=")
    return found


def test_the_guard_finds_each_unsafe_construct() -> None:
    """The scanner itself: every rule fires on a sample, and safe look-alikes do not."""
    sample = "\n".join([
        "import pickle", "from marshal import loads", "import dill.settings",
        "eval('1')", "exec('x = 1')", "yaml.load(text)", "marshal.loads(b'')",
        "subprocess.run('ls', shell=True)", "subprocess.run('ls', shell=flag)",
        "pickle.loads(b'')", "builtins.exec('1')",
        # allowed: a method called exec or eval, safe YAML, literal_eval, shell=False
        "box.exec()", "client.eval(script, 0)", "yaml.safe_load(text)",
        "ast.literal_eval('1')", "subprocess.run(['ls'], shell=False)",
    ])  # fmt: skip
    assert [f.split(" ", 1)[1] for f in findings(sample, "s")] == [
        "import pickle", "from marshal import", "import dill.settings", "eval(", "exec(",
        "yaml.load(", "marshal.loads(", "shell=", "shell=", "pickle.loads(", "builtins.exec(",
    ]  # fmt: skip
    assert findings(sample, "s")[0] == "s:1 import pickle"


def test_no_module_can_unpickle_eval_exec_or_run_a_shell() -> None:
    files = sorted(p for d in SOURCES for p in (ROOT / d).rglob("*.py"))
    assert len(files) > 40
    found = [f for p in files for f in findings(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == []


# -- secrets --------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_password_given_to_the_cli_shows_nowhere_but_the_secret_store(
    isolated_config: Paths,
) -> None:
    """profile add / show / list / test, with the password in the URL: not in stdout or
    stderr, and not in any file of the config or data directories but the secrets file."""
    password = f"pw/{uuid.uuid4().hex[:12]}#"  # given percent-encoded, as it must be
    encoded = quote(password, safe="")
    port = _free_port()  # nothing listens there
    url = f"redis://:{encoded}@127.0.0.1:{port}/0"
    backend = f"redis://user:{encoded}@127.0.0.1:{port}/1"
    runs = [
        _cli("profile", "add", "guarded", "--broker", url, "--backend", backend,
             "--no-from-app", "--activate"),
        _cli("profile", "show", "guarded"), _cli("profile", "show", "guarded", "--json"),
        _cli("profile", "list"), _cli("profile", "list", "--json"),
        _cli("profile", "test", "guarded"),
    ]  # fmt: skip
    assert runs[0].returncode == 0, runs[0].stderr
    assert "refused" in runs[-1].stdout + runs[-1].stderr  # the test did try the broker
    for done in runs:
        for shown in (password, encoded, password[3:-1]):
            assert shown not in done.stdout + done.stderr, done.args
    kept = [
        path
        for directory in (isolated_config.config_dir, isolated_config.data_dir)
        if directory.exists()
        for path in directory.rglob("*")
        if path.is_file() and password[3:-1].encode() in path.read_bytes()
    ]
    assert kept == [isolated_config.secrets_file]


def test_a_worker_command_line_never_holds_the_password(isolated_config: Paths) -> None:
    """What the supervisor would run (and write into the worker's record): broker and backend
    reach the worker through its environment only."""
    from desktop.core.local.supervisor import Supervisor
    from desktop.core.local.worker_spec import WorkerSpec
    from desktop.core.settings.profile_model import Endpoints, Profile
    from tests.factories import app_config

    password = f"pw{uuid.uuid4().hex[:12]}"
    profile = Profile(
        name="guarded",
        broker_url=f"redis://:{password}@127.0.0.1:6379/0",
        result_backend=f"redis://:{password}@127.0.0.1:6379/1",
    )
    supervisor = Supervisor(isolated_config.data_dir / "workers", profile)
    spec = WorkerSpec("w", ["tasks", "queue1"], concurrency=2)
    argv = supervisor.argv(spec, app_config(profile.broker_url))
    assert argv and not any(password in part for part in argv)
    environment = supervisor.environment(Endpoints(profile.broker_url, profile.result_backend, ""))
    assert any(password in value for value in environment.values())  # where it does go


def test_a_password_in_the_transport_options_stays_out_of_the_worker_files(
    isolated_config: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sentinel's password in the app's broker_transport_options: a started worker's record,
    status and log (outside the secret store) never hold it; its keeper still pings with it."""
    from desktop.core.local.supervisor import Supervisor
    from desktop.core.local.worker_spec import WorkerSpec
    from desktop.core.settings.profile_model import Endpoints, Profile
    from tests.factories import app_config

    password = f"pw{uuid.uuid4().hex[:12]}"
    options = {"sentinel_kwargs": {"password": password}, "master_name": "mymaster"}
    broker = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens: the worker never connects
    # An app module that does not exist: the worker exits at once, after its files are written.
    profile = Profile(name="guarded", broker_url=broker, app_module=f"no_app_{uuid.uuid4().hex}")
    config = app_config(broker, profile=profile, broker_transport_options=options)
    assert config.sending_transport_options() == options
    supervisor = Supervisor(isolated_config.data_dir / "workers" / "guarded", profile)
    supervisor.start(WorkerSpec("w", ["celery"]), Endpoints(broker, "", ""), config)
    assert supervisor.wait_stopped("w", 30).exit_code not in (None, 0)  # it did run, and fail
    written = [p for p in isolated_config.data_dir.rglob("*") if p.is_file()]
    assert supervisor.record_path("w") in written and supervisor.log_tail("w")
    assert [p for p in written if password.encode() in p.read_bytes()] == []

    from desktop.core.local.worker_keeper import TRANSPORT_OPTIONS_ENV, Keeper

    keeper_environment = supervisor.keeper_environment(Endpoints(broker, "", ""), config)
    monkeypatch.setenv(TRANSPORT_OPTIONS_ENV, keeper_environment[TRANSPORT_OPTIONS_ENV])
    assert Keeper(supervisor.record_path("w")).ping_transport_options == options
