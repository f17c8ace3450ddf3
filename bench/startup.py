"""Start-up cost: the CPU time (user + system) each ``hotline`` command that does not talk to
Telegram takes from start to exit, against ``python -c "import django"`` measured in the same run;
and how long ``hotline serve`` takes, from a warm start (data directory migrated, keys made), to
answer its first request, with the CPU its whole process tree used meanwhile.

    python bench/startup.py [--runs 3]

Modules are compiled once before the measured runs (into the run's own PYTHONPYCACHEPREFIX), as an
installed hotline has them. CPU is read with ``resource.getrusage(RUSAGE_CHILDREN)`` around each
command (the median of the runs), so a busy machine changes it little; the serve figure is
wall-clock time and does depend on what else the machine is doing (``os.getloadavg()`` is reported
beside it). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.telegram_ingest import cpu_seconds_of, free_port  # noqa: E402

COMMANDS = [
    ["help"],
    ["check"],
    ["migrate", "-v0"],
    ["audit", "verify"],
    ["purge", "--dry-run"],
    ["backup", "--output", "{tmp}/backup.bin"],
    ["flows", "check", "flows/intake.yaml"],
    ["kb", "load"],
]


def cpu_of(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """CPU seconds (user + system) ``command`` used, and its exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.returncode


def session_cpu(session: int) -> float:
    return cpu_seconds_of(lambda comm, fields: int(fields[3]) == session) or 0.0


def first_request(env: dict[str, str]) -> dict[str, Any]:
    """Start serve (warm: migrated, keys made), poll ``/ping`` until it answers."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("serve exited") from None
                time.sleep(0.02)
        answered = time.monotonic() - started
        cpu = session_cpu(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    return {"first_request_s": round(answered, 2), "serve_tree_cpu_s_until_then": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="hotline-bench-startup-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "TELEGRAM_"))}
    env.update({"HOTLINE_DATA_DIR": f"{tmp.name}/var", "HOTLINE_LOG_LEVEL": "WARNING"})
    # Compiled modules are kept, as an installation keeps them (here in the run's own directory);
    # with PYTHONDONTWRITEBYTECODE every command would compile the hotline package again (~0.3 s).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = f"{tmp.name}/pycache"
    password = Path(tmp.name) / "pw"
    password.write_text("a long benchmark password")
    hotline = [sys.executable, "-m", "hotline"]
    setup = [*hotline, "setup", "--username", "bench", "--password-file", str(password), "--json"]
    subprocess.run(setup, env=env, check=True, cwd=ROOT, capture_output=True)
    Path(tmp.name, "warm").mkdir()

    for command in COMMANDS:  # once each, unmeasured: the modules are compiled
        cpu_of([*hotline, *[part.replace("{tmp}", f"{tmp.name}/warm") for part in command]], env)
    baseline = statistics.median(cpu_of([sys.executable, "-c", "import django"], env)[0] for _ in range(args.runs))
    commands: list[dict[str, Any]] = []
    for command in COMMANDS:
        runs = []
        status = 0
        for n in range(args.runs):
            argv = [part.replace("{tmp}", f"{tmp.name}/{n}") for part in command]
            Path(tmp.name, str(n)).mkdir(exist_ok=True)
            seconds, status = cpu_of([*hotline, *argv], env)
            runs.append(seconds)
        cpu = statistics.median(runs)
        commands.append(
            {
                "command": "hotline " + " ".join(command).replace("{tmp}/", ""),
                "exit_status": status,
                "cpu_s": round(cpu, 3),
                "ratio_to_baseline": round(cpu / baseline, 1),
            }
        )
    serve = [first_request(env) for _ in range(args.runs)]
    tmp.cleanup()
    print(
        json.dumps(
            {
                "benchmark": "startup",
                "baseline_import_django_cpu_s": round(baseline, 3),
                "commands": commands,
                "slowest_command_cpu_s": max(float(c["cpu_s"]) for c in commands),
                "serve_warm_start": serve,
                "serve_first_request_median_s": statistics.median(s["first_request_s"] for s in serve),
                "load_average": [round(x, 1) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
