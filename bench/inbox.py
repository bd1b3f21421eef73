"""Inbox and case page: p95 server time with 100,000 cases in the read model.

One owner has 500 open cases (and closed ones, watched ones); the rest belong to 300 other owners
in 120 units. Rows are bulk-inserted (executemany on SQLite, COPY on PostgreSQL), then the app
is called in-process (httpx over ASGI, a signed-in session) and each page is timed next to the
raw time of the same SQL queries, run on the database driver directly.

    python bench/inbox.py                        # SQLite and PostgreSQL
    python bench/inbox.py --backend sqlite --cases 20000
    python bench/inbox.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test

The PostgreSQL run creates a scratch database next to the one named in --pg-url and drops it.
Targets: inbox p95 <= 50 ms, case page p95 <= 80 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OWNER = "bench-owner"
PASSWORD = "bench-password"
TARGET_MS = {"inbox": 50.0, "case page": 80.0}
CHUNK = 5_000


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    current = peak
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    except OSError:
        pass
    return current, peak


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


# ---------------------------------------------------------------- data


@dataclass
class Data:
    users: list[dict[str, Any]]
    units: list[dict[str, Any]]
    programs: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    watchers: list[dict[str, Any]]
    events: list[dict[str, Any]]
    owner_open: list[str]


def make_data(n_cases: int, seed: int = 7) -> Data:
    from argon2 import PasswordHasher

    from domain.vocabulary import OPEN_STATUSES, Channel

    rnd = random.Random(seed)
    now = datetime.now(UTC)
    owners = [f"agent-{i:03d}" for i in range(300)]
    managers = [f"manager-{i:02d}" for i in range(30)]
    users: list[dict[str, Any]] = [
        {"id": OWNER, "name": "Bench Owner", "email": "bench@example.com", "role": "agent",
         "manager_id": managers[0], "password_hash": PasswordHasher().hash(PASSWORD),
         "active": True},
        *({"id": u, "name": f"Agent {u}", "email": f"{u}@example.com", "role": "agent",
           "manager_id": rnd.choice(managers), "password_hash": None, "active": True}
          for u in owners),
        *({"id": m, "name": f"Manager {m}", "email": f"{m}@example.com", "role": "manager",
           "manager_id": None, "password_hash": None, "active": True} for m in managers),
    ]  # fmt: skip
    units = [
        {"id": f"{1000 + i}", "name": f"Hotel {i}", "timezone": "Europe/Oslo",
         "holiday_country": None, "holiday_subdivision": None,
         "frontline_owner_id": owners[i % len(owners)], "manager_id": managers[i % 30],
         "field_manager_id": managers[(i + 7) % 30]}
        for i in range(120)
    ]  # fmt: skip
    programs: list[dict[str, Any]] = [
        {"id": "bench", "name": "Bench Recovery", "ownership_model": "field",
         "calendar": {}, "sla": {}, "escalation": {}, "remeasure": {},
         "root_causes": ["Housekeeping", "Staff", "Billing", "Noise"],
         "resolution_methods": ["apology", "refund"], "alert_rules": [], "routing_rules": [],
         "default_owner_id": None, "updated_at": now}
    ]  # fmt: skip
    first = ["Kari", "Ola", "Ingrid", "James", "Maria", "Yuki", "Lars", "Emma", "Hiro", "Sofie"]
    last = ["Nordmann", "Berg", "Miller", "Garcia", "Tanaka", "Hansen", "Brown", "Sato", "Dahl"]
    n_customers = max(1, n_cases // 3)
    customers = [
        {"id": i + 1, "name": f"{rnd.choice(first)} {rnd.choice(last)} {i}",
         "email": f"customer{i}@example.com", "phone": f"+47{40000000 + i}",
         "external_ref": None, "created_at": now}
        for i in range(n_customers)
    ]  # fmt: skip
    statuses = list(OPEN_STATUSES)
    channels = [c for c in Channel if c not in (Channel.SOCIAL_MEDIA, Channel.DIGITAL_CONTACT_CARD)]
    reasons = ["Room not cleaned", "Overcharged minibar", "Noisy air conditioning",
               "Rude reception staff", "Breakfast was cold", "Broken shower"]  # fmt: skip
    cases: list[dict[str, Any]] = []
    watchers: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    owner_open: list[str] = []
    # The bench owner: 500 open, 1,500 closed, and 200 watched cases of others.
    mine = ["open"] * 500 + ["closed"] * 1500
    for i in range(n_cases):
        case_id = f"C-{i + 1:06d}"
        unit = units[i % len(units)]
        if i < len(mine):
            owner, kind = OWNER, mine[i]
        else:
            owner = str(unit["frontline_owner_id"])
            kind = "open" if rnd.random() < 0.25 else "closed"
        created = now - timedelta(minutes=rnd.randint(10, 60 * 24 * 120))
        status = rnd.choice(statuses) if kind == "open" else "closed"
        open_due = created + timedelta(days=1)
        resolve_due = created + timedelta(days=3)
        if kind == "open":  # open cases are recent: deadlines around now
            created = now - timedelta(minutes=rnd.randint(10, 60 * 24 * 4))
            open_due = created + timedelta(days=1)
            resolve_due = created + timedelta(days=3)
        customer = customers[rnd.randrange(n_customers)]
        closed_at = created + timedelta(hours=rnd.randint(1, 70)) if kind == "closed" else None
        cases.append(
            {"id": case_id, "version": 4, "program_id": "bench", "unit_id": unit["id"],
             "channel": rnd.choice(channels), "customer_id": customer["id"],
             "customer_name": customer["name"], "owner_id": owner, "status": status,
             "is_open": kind == "open",
             "closing_status": ("resolved" if rnd.random() < 0.8 else "unresolved")
             if kind == "closed" else None,
             "priority": "normal", "category": "Stay", "reason": rnd.choice(reasons),
             "verbatim": "I expected better. " * rnd.randint(1, 8), "external_ref": None,
             "transaction": {"date": created.date().isoformat(), "room": str(rnd.randint(1, 900))},
             "created_at": created, "open_due_at": open_due, "resolve_due_at": resolve_due,
             "next_due_at": (open_due if status == "new" else resolve_due)
             if kind == "open" else None,
             "escalation_level": 1 if status == "overdue" and rnd.random() < 0.3 else 0,
             "went_overdue": status == "overdue", "open_breached": False,
             "resolve_breached": False, "first_action_at": None if status == "new" else created,
             "closed_at": closed_at, "root_causes": ["Housekeeping"] if closed_at else [],
             "resolution_methods": [], "final_note": "Done." if closed_at else "",
             "reopened_count": 0, "remeasure_status": "not_applicable", "remeasure_score": None,
             "remeasure_resolved": None, "remeasure_comment": "", "recovery_failed": False,
             "updated_at": now}
        )  # fmt: skip
        if owner == OWNER and kind == "open":
            owner_open.append(case_id)
        watchers.append({"case_id": case_id, "user_id": unit["manager_id"], "access": "full"})
        watchers.append(
            {"case_id": case_id, "user_id": unit["field_manager_id"], "access": "limited"}
        )
        if len(mine) <= i < len(mine) + 200:
            watchers.append({"case_id": case_id, "user_id": OWNER, "access": "full"})
        kinds = ["opened", "note", "contact_attempt", "note", "closed"]
        for seq, kind_ in enumerate(kinds[: 2 + rnd.randint(0, 3)], start=1):
            events.append(
                {"case_id": case_id, "seq": seq, "at": created + timedelta(hours=seq),
                 "kind": kind_, "actor": owner, "summary": f"{kind_} by {owner}",
                 "data": {"text": "Called the guest."} if kind_ == "note" else {}}
            )  # fmt: skip
    return Data(users, units, programs, customers, cases, watchers, events, owner_open)


def load(engine: Any, data: Data) -> float:
    """Bulk insert everything; seconds taken."""
    from sqlalchemy import insert
    from tqdm import tqdm

    from models.case import Case, CaseEvent, CaseWatcher, Customer
    from models.config import Program, Unit, User

    tables: list[tuple[Any, list[dict[str, Any]]]] = [
        (User.__table__, data.users),  # type: ignore[attr-defined]
        (Unit.__table__, data.units),  # type: ignore[attr-defined]
        (Program.__table__, data.programs),  # type: ignore[attr-defined]
        (Customer.__table__, data.customers),  # type: ignore[attr-defined]
        (Case.__table__, data.cases),  # type: ignore[attr-defined]
        (CaseWatcher.__table__, data.watchers),  # type: ignore[attr-defined]
        (CaseEvent.__table__, data.events),  # type: ignore[attr-defined]
    ]
    total = sum(len(rows) for _, rows in tables)
    started = time.perf_counter()
    with tqdm(total=total, desc=f"load ({engine.dialect.name})", unit="row") as bar:
        if engine.dialect.name == "postgresql":
            _copy_postgres(engine, tables, bar)
        else:
            with engine.begin() as conn:
                for table, rows in tables:
                    for i in range(0, len(rows), CHUNK):
                        conn.execute(insert(table), rows[i : i + CHUNK])
                        bar.update(len(rows[i : i + CHUNK]))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            from sqlalchemy import text

            conn.execute(text("SELECT setval('customer_id_seq', (SELECT max(id) FROM customer))"))
            conn.execute(text("ANALYZE"))
        else:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def _copy_postgres(engine: Any, tables: list[tuple[Any, list[dict[str, Any]]]], bar: Any) -> None:
    import json

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, rows in tables:
            if not rows:
                continue
            columns = [c.name for c in table.columns if c.name in rows[0]]
            json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
            names = ", ".join(f'"{c}"' for c in columns)
            with cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(
                        [json.dumps(row[c]) if c in json_cols else row[c] for c in columns]
                    )
                    bar.update(1)
        raw.commit()
    finally:
        raw.close()


# ---------------------------------------------------------------- measuring


@contextmanager
def database(backend: str, pg_url: str, tmp: Path) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    base, _, _ = pg_url.rpartition("/")
    name = f"caseloop_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")


def raw_timer(engine: Any, raw: Any, statements: list[Any]) -> Callable[[], None]:
    """Run compiled statements on the DBAPI cursor directly: the floor under each page."""
    compiled = [
        str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        for stmt in statements
    ]

    def run() -> None:
        cur = raw.cursor()
        for sql in compiled:
            cur.execute(sql)
            cur.fetchall()
        cur.close()

    return run


def inbox_statements() -> list[Any]:
    """The inbox's SQL, built by the same functions the page uses: counts by status, the first
    page of open cases by urgency, and the live-update signature."""
    from domain.permissions import Viewer
    from domain.vocabulary import Role
    from services.inbox.listing import (
        counts_statement,
        segment_statement,
        signature_statement,
        tab_clause,
    )

    mine = tab_clause(Viewer(OWNER, "Bench Owner", Role.AGENT), "mine")
    return [
        counts_statement([mine]),
        segment_statement([mine], "open", None, 51),
        signature_statement(mine),
    ]


def case_statements(case_id: str, customer_id: int) -> list[Any]:
    from sqlalchemy import select
    from sqlmodel import col

    from models.case import Case, CaseEvent, CaseWatcher

    return [
        select(Case).where(col(Case.id) == case_id),
        select(CaseWatcher).where(col(CaseWatcher.case_id) == case_id),
        select(CaseEvent)
        .where(col(CaseEvent.case_id) == case_id)
        .order_by(col(CaseEvent.seq).desc()),
        select(Case)
        .where(col(Case.customer_id) == customer_id, col(Case.id) != case_id)
        .order_by(col(Case.created_at).desc(), col(Case.id).desc())
        .limit(10),
    ]


async def measure(url: str, data: Data, requests: int) -> dict[str, tuple[float, float, float]]:
    """{page: (p50 ms, p95 ms, raw SQL p95 ms)}."""
    import httpx
    from tqdm import tqdm

    from api import create_app
    from core.settings import Settings
    from models.db import make_engine

    engine = make_engine(url)
    settings = Settings(database_url=url, public_base_url="http://bench", demo_mode=True)
    app = create_app(settings, engine=engine)  # no Temporal needed to read pages
    results: dict[str, tuple[float, float, float]] = {}
    rnd = random.Random(3)
    case_customer = {c["id"]: c["customer_id"] for c in data.cases[: len(data.owner_open)]}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        login = await client.get("/login")
        token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = await client.post(
            "/login", data={"username": OWNER, "password": PASSWORD, "csrf_token": token}
        )
        assert r.status_code == 303, r.text
        pages: dict[str, Callable[[], str]] = {
            "inbox": lambda: "/inbox",
            "case page": lambda: f"/cases/{rnd.choice(data.owner_open)}",
        }
        for name, path in pages.items():
            for _ in range(10):  # warm-up: caches, template compilation
                assert (await client.get(path())).status_code == 200
            samples: list[float] = []
            for _ in tqdm(range(requests), desc=f"{name} ({engine.dialect.name})", unit="req"):
                target = path()
                started = time.perf_counter()
                r = await client.get(target)
                samples.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, (target, r.status_code)
            if name == "inbox":
                assert r.text.count("data-case=") == 50, "the inbox shows a full page"
            raw_samples: list[float] = []
            raw = engine.raw_connection()
            for _ in range(requests):
                if name == "inbox":
                    run = raw_timer(engine, raw, inbox_statements())
                else:
                    case_id = rnd.choice(data.owner_open)
                    stmts = case_statements(case_id, case_customer[case_id])
                    run = raw_timer(engine, raw, stmts)
                started = time.perf_counter()
                run()
                raw_samples.append((time.perf_counter() - started) * 1000)
            raw.close()
            results[name] = (statistics.median(samples), p95(samples), p95(raw_samples))
    engine.dispose()
    return results


def run(backends: list[str], n_cases: int, requests: int, pg_url: str) -> int:
    from models.db import make_engine

    print(f"generating {n_cases:,} cases ...", flush=True)
    data = make_data(n_cases)
    table: list[tuple[str, str, float, float, float, float]] = []
    loads: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-inbox-") as tmp:
        for backend in backends:
            with database(backend, pg_url, Path(tmp)) as url:
                migrate(url)
                engine = make_engine(url)
                loads[backend] = load(engine, data)
                engine.dispose()
                for page, (p50, p95_ms, raw) in asyncio.run(measure(url, data, requests)).items():
                    table.append((backend, page, p50, p95_ms, raw, TARGET_MS[page]))
    current, peak = rss_mb()
    print()
    print(
        f"{n_cases:,} cases ({len(data.owner_open)} open for {OWNER}), "
        f"{len(data.events):,} timeline events, {len(data.watchers):,} watchers; "
        f"{requests} requests per page"
    )
    for backend, seconds in loads.items():
        rows = len(data.cases) + len(data.events) + len(data.watchers) + len(data.customers)
        print(f"  bulk load {backend}: {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    header = (
        f"{'backend':<11}{'page':<11}{'p50 ms':>8}{'p95 ms':>8}{'raw SQL p95':>13}"
        f"{'target':>8}  verdict"
    )
    print(header)
    print("-" * len(header))
    failed = 0
    for backend, page, p50, p95_ms, raw, target in table:
        ok = p95_ms <= target
        failed += not ok
        print(
            f"{backend:<11}{page:<11}{p50:>8.1f}{p95_ms:>8.1f}{raw:>13.2f}{target:>8.0f}  "
            f"{'ok' if ok else 'MISSED'}"
        )
    print(f"\nRSS: {current:.0f} MiB now, {peak:.0f} MiB peak (this process: data + app + driver)")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server to create the scratch database on",
    )  # fmt: skip
    args = parser.parse_args()
    if args.cases < 2_500:
        parser.error("--cases must be at least 2,500 (the bench owner alone has 2,000)")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    sys.exit(run(backends, args.cases, args.requests, args.pg_url))


if __name__ == "__main__":
    main()
