"""Memory footprint of ``hotline serve`` at its defaults: the proportional set size (PSS) of its whole
process tree, idle and while and after Telegram updates go through it, against a bare interpreter's
PSS (``python -c pass``, kept waiting on its input) measured in the same run.

``serve`` runs as an operator would run it (two web processes, the writer, the worker), with the bot
on: the webhook takes the updates and the worker delivers the replies to a local Telegram emulator
(``hotline/testing/telegram_emulator.py``, in this process). Updates are whole intakes, as in
``bench/telegram_ingest.py``, whose load generator this reuses.

    python bench/memory.py [--updates 100000] [--samples 4] [--concurrency 16]

PSS counts a page shared by N processes as 1/N in each, so the sum over the tree is the memory the
tree really holds. It is read from ``/proc/PID/smaps_rollup`` (Linux), with its parts: anonymous
memory (what the processes made) and, from ``/proc/PID/smaps``, the SQLite database's pages read
through its memory map (``HOTLINE_SQLITE_MMAP_MB``): those are the kernel's page cache of the
database file, which it keeps anyway (read() fills the same cache, uncounted) and drops under
memory pressure, and they grow with the database. Serve's children are forked from it and share a
command line, so they are named from serve's status file. ``--sqlite-mmap-mb 0`` runs serve without
the map. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.telegram_ingest import (  # noqa: E402
    SECRET,
    cpu_seconds_of,
    free_port,
    intake_inputs,
    processes,
    run_load,
)

TOKEN = "123456:bench-memory"  # noqa: S105 (the emulator's token)
FIRST_CHAT = 10_000_000


def pss_kib(pid: int) -> int | None:
    """The process's PSS in KiB, or None if it is gone."""
    return pss_parts_kib(pid).get("Pss")


def pss_parts_kib(pid: int) -> dict[str, int]:
    """The process's PSS in KiB (``Pss``) and its parts: anonymous memory (``Pss_Anon``: the heap,
    what the process made) and files (``Pss_File``: libraries, and the SQLite database read through
    its memory map, which is the page cache and reclaimable). Empty if the process is gone."""
    parts: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("Pss", "Pss_Anon", "Pss_File", "Pss_Shmem"):
                    parts[name] = int(value.split()[0])
    except OSError:
        return {}
    return parts


def mapped_file_pss_kib(pid: int, path: Path) -> int:
    """PSS of the process's mappings of ``path`` (the SQLite database's memory map)."""
    total, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(maxsplit=5)
                if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:  # a mapping's first line
                    inside = len(head) == 6 and head[5].strip() == str(path)
                elif inside and line.startswith("Pss:"):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def session_members(session: int) -> list[int]:
    return [pid for pid, _, fields in processes() if int(fields[3]) == session]


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def describe(pid: int, session: int, names: dict[int, str]) -> str:
    """What the process is: serve's children are forked from it (one command line for all), so they
    are named from serve's status file (``{"pids": {"web-1": …}}``); a granian worker by its parent."""
    if pid == session:
        return "serve (supervisor)"
    if pid in names:
        name = names[pid]
        return f"{name} (granian server)" if name.startswith("web-") else name
    parent = parent_of(pid)
    if parent in names:
        return f"{names[parent]} (granian worker)"
    return "?"


def tree_pss(session: int, status_file: Path) -> dict[str, Any]:
    processes: list[dict[str, Any]] = []
    total = anon = database = 0.0
    database_file = status_file.with_name("hotline.sqlite3")
    try:
        names = {pid: name for name, pid in json.loads(status_file.read_text())["pids"].items()}
    except (OSError, ValueError, KeyError):
        names = {}
    for pid in sorted(session_members(session)):
        parts = pss_parts_kib(pid)
        if "Pss" in parts:
            mapped = mapped_file_pss_kib(pid, database_file)
            processes.append(
                {
                    "process": describe(pid, session, names),
                    "pss_mb": round(parts["Pss"] / 1024, 1),
                    "anon_mb": round(parts.get("Pss_Anon", 0) / 1024, 1),
                    "database_map_mb": round(mapped / 1024, 1),
                }
            )
            total += parts["Pss"] / 1024
            anon += parts.get("Pss_Anon", 0) / 1024
            database += mapped / 1024
    return {
        "total_pss_mb": round(total, 1),
        # of which: the processes' own memory, and the SQLite file's pages read through its memory map
        "total_pss_anon_mb": round(anon, 1),
        "total_pss_database_map_mb": round(database, 1),
        "processes": processes,
    }


def bare_python_pss() -> float:
    """The baseline: a bare interpreter (``python -c pass`` that waits on its input so it can be read)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        pss = 0
        # Ready once its memory stops growing (start-up done): two equal readings in a row.
        while True:
            time.sleep(0.2)
            again = pss_kib(proc.pid) or 0
            if again == pss and pss > 0:
                return round(pss / 1024, 1)
            pss = again
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()


class Serve:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.serving = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "Hotline is serving" in line:
                self.serving.set()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=100_000, help="updates to send (whole intakes)")
    parser.add_argument("--samples", type=int, default=4, help="PSS readings while the updates go through")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--sqlite-mmap-mb", type=int, default=None, help="HOTLINE_SQLITE_MMAP_MB for serve (default: the setting's)"
    )
    args = parser.parse_args()

    from hotline.testing.telegram_emulator import TelegramEmulator

    emulator = TelegramEmulator(TOKEN).start()
    tmp = tempfile.TemporaryDirectory(prefix="hotline-bench-memory-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "TELEGRAM_"))}
    env.update(
        {
            "HOTLINE_DATA_DIR": tmp.name,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": emulator.base_url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_MODE": "webhook",
            "HOTLINE_LOG_LEVEL": "WARNING",
        }
    )
    if args.sqlite_mmap_mb is not None:
        env["HOTLINE_SQLITE_MMAP_MB"] = str(args.sqlite_mmap_mb)
    password = Path(tmp.name) / "pw"
    password.write_text("a long benchmark password")
    setup = [sys.executable, "-m", "hotline", "setup", "--username", "bench", "--password-file", str(password)]
    subprocess.run([*setup, "--json"], env=env, check=True, cwd=ROOT, capture_output=True)

    # The applicants exist in the emulator, so the worker's replies to them are delivered.
    inputs_per_intake = len(intake_inputs())
    emulator.add_users(max(1, args.updates // inputs_per_intake) + args.samples, first_id=FIRST_CHAT)
    baseline = bare_python_pss()
    port = free_port()
    status_file = Path(tmp.name) / "serve-status.json"
    serve = Serve(env, port)
    try:
        if not serve.serving.wait(timeout=600):
            raise RuntimeError("serve did not start")
        idle = tree_pss(serve.proc.pid, status_file)
        inputs = intake_inputs()
        per_sample = max(1, args.updates // len(inputs) // args.samples)
        url = f"http://127.0.0.1:{port}"
        samples = []
        sent = 0
        session = str(serve.proc.pid)  # serve leads a session of its own; its children stay in it

        def serve_cpu() -> float:
            return cpu_seconds_of(lambda _comm, fields: fields[3] == session) or 0.0

        for n in range(args.samples):
            first_chat = FIRST_CHAT + n * per_sample
            cpu_before, started = serve_cpu(), time.monotonic()
            result = asyncio.run(run_load(url, args.concurrency, per_sample, inputs, first_chat=first_chat))
            elapsed, cpu = time.monotonic() - started, serve_cpu() - cpu_before
            sent += result["requests"]
            # The rate and the CPU an update cost serve's processes while the database grew to this
            # size (SQLite's reads get dearer as the file outgrows its page cache and memory map).
            pace = {
                "updates_per_second": round(result["requests"] / elapsed, 1),
                "server_cpu_ms_per_update": round(1000 * cpu / max(1, result["requests"]), 3),
            }
            samples.append(
                {"updates_sent": sent, "failed": result["failed"], **pace, **tree_pss(serve.proc.pid, status_file)}
            )
        after = samples[-1]
        growth = [s["total_pss_mb"] for s in samples]
    finally:
        serve.stop()
        emulator.stop()
        tmp.cleanup()
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "baseline_bare_python_pss_mb": baseline,
                "idle": idle,
                "samples": samples,
                "updates": after["updates_sent"],
                "idle_total_pss_mb": idle["total_pss_mb"],
                "after_total_pss_mb": after["total_pss_mb"],
                # The processes' own memory: the total less the database file's pages read through
                # SQLite's memory map (HOTLINE_SQLITE_MMAP_MB), which are the kernel's page cache.
                "after_without_database_map_mb": round(after["total_pss_mb"] - after["total_pss_database_map_mb"], 1),
                "goal_300_mb_met": {
                    "total_pss": max(s["total_pss_mb"] for s in [idle, *samples]) <= 300,
                    "without_database_map": max(
                        s["total_pss_mb"] - s["total_pss_database_map_mb"] for s in [idle, *samples]
                    )
                    <= 300,
                },
                "growth_over_the_samples_mb": round(max(growth) - min(growth), 1),
                "idle_ratio_to_baseline": round(idle["total_pss_mb"] / baseline, 1),
                "after_ratio_to_baseline": round(after["total_pss_mb"] / baseline, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
