"""Reading the person's app: the panel's effective configuration vs Celery's own `celery report`.

Both import the app in a fresh interpreter; the panel's probe also finalizes it, routes every
task and reads kombu's transport defaults. Prints the median of N runs of each and the ratio,
for the shipped `workers` app and the tutorial's Django project. It asserts nothing (see
docs/PERFORMANCE.md).
Usage: python bench/app_config.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desktop.core.app.config import read_effective_config  # noqa: E402
from desktop.core.settings.profile_model import Profile  # noqa: E402

APPS = {
    "workers (shipped)": Profile(name="w", app_module="workers", workdir=str(ROOT)),
    "dcelery (Django)": Profile(
        name="d",
        app_module="dcelery",
        workdir=str(ROOT / "tests" / "fixtures" / "dcelery"),
        django_settings="dcelery.settings",
    ),
}


def celery_report_s(profile: Profile) -> float:
    """Reference: Celery's own `celery -A APP report` (imports the app, prints its settings)."""
    env = dict(os.environ, PYTHONPATH=profile.workdir)
    if profile.django_settings:
        env["DJANGO_SETTINGS_MODULE"] = profile.django_settings
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", profile.app_module, "report"],
        cwd=profile.workdir,
        env=env,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def panel_read_s(profile: Profile) -> float:
    started = time.perf_counter()
    config = read_effective_config(profile)
    elapsed = time.perf_counter() - started
    assert config.imported, config.error
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    print(f"{'app':<20} {'celery report':>14} {'panel probe':>12} {'ratio':>7}")
    for label, profile in APPS.items():
        reference, panel = [], []
        for _ in range(options.runs):  # interleaved, so load on the machine hits both alike
            reference.append(celery_report_s(profile))
            panel.append(panel_read_s(profile))
        a, b = statistics.median(reference), statistics.median(panel)
        print(f"{label:<20} {a * 1000:>11.0f} ms {b * 1000:>9.0f} ms {b / a:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
