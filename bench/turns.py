"""Per-turn cost of registration, Spoke against a botbuilder-dialogs baseline (issue #3).

    .venv/bin/python bench/turns.py             # 200 users per store, about a minute
    .venv/bin/python bench/turns.py --quick     # CI smoke: 20 users, about 10 s
    . .ci/postgres.sh && .venv/bin/python bench/turns.py; spoke_postgres_stop   # with PostgreSQL

Prints figures, asserts nothing. In one run on one machine: Spoke's registration turns on a
SQLite file, on in-memory SQLite and (when SPOKE_TEST_POSTGRES_URL is set) on PostgreSQL;
beside them a botbuilder-dialogs `WaterfallDialog` asking the same six questions (name,
e-mail, profession, organisation, time zone, consent) with its state stored through SQLModel
on the same SQLite file; RSS; and `spoke chat` start-up to the first reply.

The baseline runs in its own process (`bench/waterfall.py`), so its imports do not inflate
Spoke's RSS. botbuilder-dialogs 4.17.1 pins babel==2.9.1 and Spoke needs babel>=2.14, so when
the running interpreter lacks botbuilder the script builds `bench/.venv-baseline` (once) with
botbuilder-dialogs, aiohttp (botbuilder-core imports it without declaring it) and the same
SQLModel and SQLAlchemy versions as this venv.

Targets (issue #3): Spoke's p50 at least 2x the baseline's on the six comparable turns,
Spoke's p99 under 10 ms on the SQLite file, `spoke chat` first reply under 1.5 s.
"""

from __future__ import annotations

import cProfile
import importlib.util
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import loadkit  # bench/, beside this script (Python puts a script's folder on sys.path)
from loadkit import memory_kib, percentile, yes
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from assistant.clock import FakeClock
from assistant.demo import seed
from assistant.events import Action, Actor, ConversationStarted, Event, Hints, UserSaid
from assistant.sealing import Sealer
from assistant.turns import TurnHandler
from dialogs import PLAYBOOK
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from storage.scratch import scratch_database

# Conversation answers are sealed at rest in production: so they are here.
SEALER = Sealer(["bench key"])
BENCH = Path(__file__).resolve().parent
BASELINE_VENV = BENCH / ".venv-baseline"
BASELINE_REQUIREMENTS = ("botbuilder-dialogs==4.17.1", "aiohttp>=3.9")

# One registration as typed in `spoke chat`; None is the greeting (ConversationStarted).
SCRIPT: tuple[tuple[str, str | None], ...] = (
    ("start", None), ("begin", "1"), ("name", "Amira Haddad"), ("email", "amira@example.org"),
    ("profession", "1"), ("organisation", "St Columba's Hospice"), ("care_setting", "1"),
    ("region", "EH6"), ("country", "Scotland"), ("time_zone", "Glasgow"), ("zone_ok", "yes"),
    ("language", "1"), ("networks", "2"), ("consent", "1"), ("review", "yes"),
)
# The turns answering the baseline's six prompts (the same step names in bench/waterfall.py).
COMPARABLE = ("name", "email", "profession", "organisation", "time_zone", "consent")
TARGET_RATIO, TARGET_P99_MS, TARGET_STARTUP_S = 2.0, 10.0, 1.5
ROUNDS = 4  # Spoke and the baseline alternate on the SQLite file, this many times each


# --- figures ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figures:
    turns: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    per_s: float

    @classmethod
    def of(cls, seconds: Sequence[float], wall_s: float | None = None) -> Figures:
        ordered = sorted(seconds)
        per_s = len(ordered) / (wall_s if wall_s else sum(ordered))

        def ms(p: float) -> float:
            return percentile(ordered, p) * 1000

        return cls(len(ordered), ms(50), ms(95), ms(99), ordered[-1] * 1000, per_s)


@dataclass
class Run:
    """Seconds per turn, by step name, for one store (or the baseline), over its batches."""

    label: str
    by_step: dict[str, list[float]] = field(default_factory=dict)
    wall_s: float = 0.0
    users: int = 0
    completed: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, by_step: dict[str, list[float]], wall_s: float, users: int, completed: int) -> None:
        for step, samples in by_step.items():
            self.by_step.setdefault(step, []).extend(samples)
        self.wall_s += wall_s
        self.users += users
        self.completed += completed

    def all_turns(self) -> Figures:
        return Figures.of([s for samples in self.by_step.values() for s in samples], self.wall_s)

    def comparable(self) -> Figures:
        return Figures.of([s for step in COMPARABLE for s in self.by_step.get(step, [])])


# --- Spoke ------------------------------------------------------------------------------------

def event(user: str, delivery: str, text: str | None) -> Event:
    action: Action = ConversationStarted() if text is None else UserSaid(text)
    return Event(delivery, Actor(f"console:{user}"), action, address={}, hints=Hints())


def register(turns: TurnHandler, user: str, by_step: dict[str, list[float]] | None) -> int:
    """One full registration; returns the number of turns that ended in an incident."""
    incidents = 0
    for position, (step, said) in enumerate(SCRIPT):
        incoming = event(user, f"bench:{user}:{position}:{uuid.uuid4().hex[:8]}", said)
        started = time.perf_counter()
        result = turns.handle_now(incoming)
        elapsed = time.perf_counter() - started
        if by_step is not None:
            by_step.setdefault(step, []).append(elapsed)
        incidents += result.incident is not None
    return incidents


def registered(store: SqlStore, users: Sequence[str]) -> int:
    with store.transaction() as uow:
        return sum(uow.people.by_identity(f"console:{user}") is not None for user in users)


class SpokeBench:
    """Spoke on one store: seeded and warmed up once, then timed in batches of new users."""

    def __init__(self, label: str, store: SqlStore) -> None:
        self.store = store
        self.run = Run(label)
        clock = FakeClock(at="2025-06-02T09:00:00Z")
        seed(store, clock.now())
        self.turns = TurnHandler(store, clock, PLAYBOOK)
        # The first time-zone lookup builds the city index (~1.5 s, once per process) and each
        # engine compiles its statements once: neither belongs in a per-turn figure.
        started = time.perf_counter()
        register(self.turns, "warmup", None)
        self.run.notes.append(f"warm-up registration {time.perf_counter() - started:.2f} s (untimed)")
        if registered(store, ["warmup"]) != 1:
            self.run.notes.append("WARNING: the warm-up user did not get registered; the script is off")

    def batch(self, first: int, count: int) -> None:
        names = [f"bench{n}" for n in range(first, first + count)]
        by_step: dict[str, list[float]] = {}
        incidents = 0
        started = time.perf_counter()
        for name in names:
            incidents += register(self.turns, name, by_step)
        wall_s = time.perf_counter() - started
        if incidents:
            self.run.notes.append(f"WARNING: {incidents} turns ended in an incident (see the log)")
        self.run.add(by_step, wall_s, count, registered(self.store, names))

    def finish(self) -> Run:
        if self.run.completed != self.run.users:
            self.run.notes.append(
                f"WARNING: only {self.run.completed} of {self.run.users} users got registered")
        return self.run


def measure_spoke(label: str, store: SqlStore, users: int) -> Run:
    bench = SpokeBench(label, store)
    bench.batch(0, users)
    return bench.finish()


def sqlite_file_store(path: Path) -> SqlStore:
    url = f"sqlite:///{path}"
    upgrade(url)
    return SqlStore(make_engine(url), SEALER)


def sqlite_memory_store() -> SqlStore:
    # upgrade() opens its own engine, which would see a different empty database: migrate a
    # scratch file and copy it into the one StaticPool connection the store will use
    # (create_all would miss the migrations' server defaults, e.g. series.audience_*).
    import sqlite3

    engine = make_engine("sqlite://")
    with tempfile.TemporaryDirectory(prefix="spoke-bench-schema-") as scratch:
        schema = Path(scratch) / "schema.db"
        upgrade(f"sqlite:///{schema}")
        source = sqlite3.connect(schema)
        try:
            with engine.connect() as connection:
                source.backup(connection.connection.dbapi_connection)  # type: ignore[arg-type]
        finally:
            source.close()
    return SqlStore(engine, SEALER)


def measure_postgres(base_url: str, users: int) -> Run:
    with scratch_database(base_url, prefix="spoke_bench") as url:
        upgrade(url)
        store = SqlStore(make_engine(url), SEALER)
        try:
            return measure_spoke("Spoke, PostgreSQL", store, users)
        finally:
            store.close()


def sqlite_settings(engine: Engine) -> str:
    with engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"journal_mode={journal} synchronous={names.get(int(synchronous or 0), synchronous)}"


def profile_turns(store: SqlStore, users: int, top: int) -> str:
    """cProfile over a few registrations on an already warm store: where a turn's time goes."""
    clock = FakeClock(at="2025-06-02T09:00:00Z")
    turns = TurnHandler(store, clock, PLAYBOOK)
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(users):
        register(turns, f"profiled{n}", None)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write(own_time_by_package(stats))
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def own_time_by_package(stats: pstats.Stats) -> str:
    """Self time summed per package: is it Spoke's code, SQLAlchemy, or SQLite itself?"""
    totals: dict[str, float] = {}
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        own_s = row[2]
        if filename == "~":  # a C function: name it by its object (sqlite3.Cursor, dict, ...)
            package = "sqlite3 (C)" if "sqlite3" in function else "builtins (C)"
        else:
            parts = Path(filename).parts
            site = "site-packages" in parts
            package = (parts[parts.index("site-packages") + 1] if site
                       else next((p for p in ("assistant", "dialogs", "storage") if p in parts),
                                 "stdlib"))
        totals[package] = totals.get(package, 0.0) + own_s
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:10]
    return "   self time by package: " + ", ".join(
        f"{name} {100 * s / whole:.0f}%" for name, s in ranked) + "\n"


# --- baseline ---------------------------------------------------------------------------------

def baseline_python() -> tuple[Path | None, str]:
    """An interpreter that has botbuilder-dialogs, building bench/.venv-baseline if needed."""
    # botbuilder.dialogs itself: `make bench` puts botbuilder-core (Teams' baseline) in this venv.
    if importlib.util.find_spec("botbuilder.dialogs") and importlib.util.find_spec("aiohttp"):
        return Path(sys.executable), "this interpreter"
    python = BASELINE_VENV / "bin" / "python"
    if not python.exists():
        print(f"  (building {BASELINE_VENV.relative_to(BENCH.parent)} for botbuilder-dialogs, once)",
              flush=True)
        pins = [f"sqlmodel=={version('sqlmodel')}", f"SQLAlchemy=={version('SQLAlchemy')}"]
        # Our own interpreter, paths and pins, no shell: nothing untrusted reaches these calls.
        made = subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)],  # noqa: S603
                              capture_output=True, text=True, check=False)
        if made.returncode == 0:
            made = subprocess.run([str(python), "-m", "pip", "install", "-q",  # noqa: S603
                                   *BASELINE_REQUIREMENTS, *pins],
                                  capture_output=True, text=True, check=False)
        if made.returncode != 0:
            shutil.rmtree(BASELINE_VENV, ignore_errors=True)
            return None, "could not build the baseline venv: " + made.stderr.strip()[-300:]
    return python, str(BASELINE_VENV.relative_to(BENCH.parent))


class BaselineBench:
    """The WaterfallDialog in its own process, one process per batch of users."""

    def __init__(self, python: Path, db: Path) -> None:
        self.python = python
        self.db = db
        self.run = Run("botbuilder WaterfallDialog")
        self.report: dict[str, Any] = {}
        self.failed = ""

    def batch(self, first: int, count: int) -> None:
        if self.failed:
            return
        done = subprocess.run([str(self.python), str(BENCH / "waterfall.py"),  # noqa: S603
                               "--db", str(self.db), "--users", str(count), "--first", str(first)],
                              capture_output=True, text=True, check=False, timeout=1800)
        if done.returncode != 0:
            self.failed = f"baseline failed: {done.stderr.strip()[-600:]}"
            return
        self.report = json.loads(done.stdout)
        by_step = dict(zip(self.report["steps"], self.report["timings"], strict=True))
        self.run.add(by_step, self.report["wall_s"], count, self.report["completed"])
        if not self.run.notes:
            self.run.notes.append(f"warm-up registration {self.report['warmup_s']:.2f} s per "
                                  "batch process (untimed)")

    def finish(self) -> Run:
        answers = self.report.get("last_answers", {})
        expected = {"profession": "Registered nurse", "time_zone": "Europe/London", "consent": True}
        if (self.run.completed != self.run.users
                or any(answers.get(k) != v for k, v in expected.items())):
            self.run.notes.append(f"WARNING: {self.run.completed} of {self.run.users} completed; "
                                  f"last answers {answers}")
        return self.run


# --- start-up ---------------------------------------------------------------------------------

def spoke_command() -> str | None:
    beside = Path(sys.executable).parent / "spoke"
    return str(beside) if beside.exists() else shutil.which("spoke")


def first_reply_s(command: str, env: dict[str, str], user: str, limit_s: float = 30) -> float | None:
    """Spawn `spoke chat`, stdin at EOF; seconds until a stdout line holds "Spoke:"."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors, subprocess.Popen(  # noqa: S603
            [command, "chat", "--as", user], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=errors, env=env, text=True) as chat:
        watchdog = threading.Timer(limit_s, chat.kill)  # a hung start must not hang the bench
        watchdog.start()
        try:
            assert chat.stdout is not None
            took = None
            for line in chat.stdout:
                if "Spoke:" in line and took is None:
                    took = time.perf_counter() - started
            chat.wait()  # it exits by itself at end of input
            return took
        finally:
            watchdog.cancel()


def measure_startup(workdir: Path, runs: int) -> tuple[list[float], str]:
    command = spoke_command()
    if command is None:
        return [], "no `spoke` command (pip install -e .)"
    db = workdir / "spoke.db"
    store = sqlite_file_store(db)
    seed(store, FakeClock().now())
    store.close()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "SPOKE_DATA_DIR": str(workdir)}
    times = [first_reply_s(command, env, f"bench{n}") for n in range(runs)]
    got = [t for t in times if t is not None]
    return got, "" if len(got) == runs else f"{runs - len(got)} runs printed no reply"


# --- printing ---------------------------------------------------------------------------------

def row(label: str, what: str, f: Figures) -> str:
    return (f"  {label:<27}{what:<13}{f.turns:>6}{f.p50_ms:>8.2f}{f.p95_ms:>8.2f}"
            f"{f.p99_ms:>8.2f}{f.max_ms:>8.2f}{f.per_s:>9.0f}")


def print_run(run: Run) -> None:
    print(row(run.label, "all turns", run.all_turns()))
    print(row("", "six prompts", run.comparable()))
    for note in run.notes:
        print(f"  {'':<27}{note}")


def print_steps(run: Run) -> None:
    cells = [f"{step} {Figures.of(s).p50_ms:.2f}" for step, s in run.by_step.items()]
    print(f"  {run.label}: " + ", ".join(cells))


def print_header(users: int, journal: str) -> None:
    print("Spoke registration turns (issue #3)")
    print(loadkit.platform_line(f"SQLAlchemy {version('SQLAlchemy')}, sqlmodel {version('sqlmodel')}",
                                usable_cpus=False))
    print(f"  {users} users per store, each its own identity; Spoke {len(SCRIPT)} turns per "
          f"registration, the baseline 7 (greeting + six prompts)")
    print(f"  SQLite file: {journal}; every turn commits; Spoke and the baseline alternate "
          f"in {min(users, ROUNDS)} rounds on it")
    print(f"  Load average at the start: {loadkit.load_average()}")
    print("  Warm-up: one full registration per store before timing, untimed (the first "
          "time-zone lookup builds the city index, ~1.5 s once per process)")
    print("  'six prompts' = the turns answering name, e-mail, profession, organisation, "
          "time zone (\"Glasgow\"), consent")
    print()
    print(f"  {'':<27}{'':<13}{'turns':>6}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}"
          f"{'turns/s':>9}")


# --- the run ----------------------------------------------------------------------------------

def rounds(users: int, count: int) -> list[tuple[int, int]]:
    """(first user, how many) per round: users split as evenly as they go."""
    count = max(1, min(users, count))
    sizes = [users // count + (i < users % count) for i in range(count)]
    return [(sum(sizes[:i]), size) for i, size in enumerate(sizes)]


def race_on_sqlite_file(db: Path, store: SqlStore, users: int, with_baseline: bool,
                        ) -> tuple[Run, Run | None, str]:
    """Spoke and the baseline take turns, round by round, on the same file: load from other
    work on the machine then lands on both sides rather than on whichever ran second."""
    spoke = SpokeBench("Spoke, SQLite file", store)
    python, where = baseline_python() if with_baseline else (None, "skipped (--no-baseline)")
    baseline = BaselineBench(python, db) if python is not None else None
    for first, count in rounds(users, ROUNDS):
        spoke.batch(first, count)
        if baseline is not None:
            baseline.batch(first, count)
    if baseline is None or baseline.failed:
        return spoke.finish(), None, baseline.failed if baseline else where
    versions = baseline.report["versions"]
    return spoke.finish(), baseline.finish(), (
        f"same SQLite file, table bench_bot_state; its own process ({where}); "
        f"botbuilder-dialogs {versions['botbuilder-dialogs']}, babel {versions['babel']}, "
        f"peak RSS {baseline.report['peak_rss_kib'] / 1024:.0f} MiB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = loadkit.bench_parser("Spoke per-turn benchmark (prints figures)", 200, "registrations per store",
                                  "20 users, 3 start-ups (CI smoke)")
    parser.add_argument("--no-baseline", action="store_true", help="skip botbuilder-dialogs")
    loadkit.add_profile_option(parser, "also cProfile this many registrations on the SQLite file")
    args = parser.parse_args(argv)
    users = 20 if args.quick else args.users
    memory: list[tuple[str, int, int]] = [("start", *memory_kib())]
    profile = ""

    with tempfile.TemporaryDirectory(prefix="spoke-bench-") as tmp:
        workdir = Path(tmp)
        db = workdir / "spoke.db"
        file_store = sqlite_file_store(db)
        print_header(users, sqlite_settings(file_store.engine))

        spoke_file, baseline, baseline_note = race_on_sqlite_file(
            db, file_store, users, not args.no_baseline)
        print_run(spoke_file)
        if baseline is not None:
            print_run(baseline)
            print(f"  {'':<27}{baseline_note}")
        else:
            print(f"  botbuilder WaterfallDialog: {baseline_note}")
        if args.profile:
            profile = profile_turns(file_store, args.profile, 30)
        file_store.close()
        memory.append(("Spoke, SQLite file", *memory_kib()))

        memory_store = sqlite_memory_store()
        print_run(measure_spoke("Spoke, SQLite in memory", memory_store, users))
        memory_store.close()
        memory.append(("Spoke, SQLite in memory", *memory_kib()))

        postgres_url = os.environ.get("SPOKE_TEST_POSTGRES_URL", "")
        if not postgres_url:
            print("  PostgreSQL: skipped (set SPOKE_TEST_POSTGRES_URL)")
        else:
            try:
                print_run(measure_postgres(postgres_url, users))
                memory.append(("Spoke, PostgreSQL", *memory_kib()))
            except OperationalError as down:  # a figure missing beats a bench that crashes
                print(f"  PostgreSQL: failed ({str(down.orig).strip().splitlines()[0]})")

        print()
        print("p50 ms by step:")
        for run in (spoke_file, *([baseline] if baseline else [])):
            print_steps(run)

        startup_dir = workdir / "startup"
        startup_dir.mkdir()
        startup, startup_note = measure_startup(startup_dir, 3 if args.quick else 5)

    print_memory(memory)
    startup_median = print_startup(startup, startup_note)
    if profile:
        print()
        print(f"cProfile, {args.profile} registrations on the SQLite file:")
        print(profile)
    print()
    print(f"Load average at the end: {loadkit.load_average()} "
          f"(other work on this machine shows up in every figure)")
    print_summary(spoke_file, baseline, startup_median)
    return 0


def print_memory(memory: list[tuple[str, int, int]]) -> None:
    print()
    print("Memory (this process; the baseline's is above):")
    for phase, rss, peak in memory:
        print(f"  after {phase:<27} RSS {rss / 1024:6.1f} MiB   peak so far {peak / 1024:6.1f} MiB")
    print(f"  peak RSS (getrusage ru_maxrss): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


def print_startup(startup: list[float], note: str) -> float | None:
    print()
    if not startup:
        print(f"`spoke chat` start-up: not measured ({note})")
        return None
    median = sorted(startup)[len(startup) // 2]
    print(f"`spoke chat` spawn to first reply, {len(startup)} runs: min {min(startup):.2f} s, "
          f"median {median:.2f} s {note}".rstrip())
    return median


def print_summary(spoke: Run, baseline: Run | None, startup_s: float | None) -> None:
    p99 = spoke.all_turns().p99_ms
    if baseline is not None:
        ratio = baseline.comparable().p50_ms / spoke.comparable().p50_ms
        speed = (f"p50 baseline/Spoke {ratio:.2f}× (six prompts, SQLite file), "
                 f"p50 ≥2× faster: {yes(ratio >= TARGET_RATIO)}")
    else:
        speed = "p50 ≥2× faster: not measured (no baseline)"
    startup = ("not measured" if startup_s is None
               else f"{yes(startup_s < TARGET_STARTUP_S)} (median {startup_s:.2f} s)")
    print(f"Summary: {speed} | p99 < 10 ms: {yes(p99 < TARGET_P99_MS)} ({p99:.2f} ms, all "
          f"turns, SQLite file) | start-up < 1.5 s: {startup}")


if __name__ == "__main__":
    sys.exit(main())
