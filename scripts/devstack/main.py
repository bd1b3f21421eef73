"""The order of it all, the arguments, and what an error or Ctrl-C ends with."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from scripts.devstack import app, summary
from scripts.devstack.console import console
from scripts.devstack.devserver import register_on, start_temporal
from scripts.devstack.environment import (
    app_settings,
    child_env,
    configured_payload_keys,
    configured_secret_key,
)
from scripts.devstack.paths import DATA_DIR, LOG_DIR, TEMPORAL_ADDRESS
from scripts.devstack.processes import (
    ChildDied,
    Shutdown,
    StartupError,
    Supervisor,
    report_log,
)


def run_all(sup: Supervisor, args: argparse.Namespace) -> None:
    """Start everything in order, then watch it: ends only with an exception."""
    DATA_DIR.mkdir(exist_ok=True)
    LOG_DIR.mkdir(exist_ok=True)
    env = child_env()
    http_host, http_port, public_url = app_settings()
    if not args.temporal_only:
        app.check_app(http_host, http_port)

    start_temporal(sup, env, codec_endpoint=f"http://localhost:{http_port}/codec")
    if args.temporal_only:
        summary.temporal_running()
        sup.watch()

    app.migrate(sup, env)
    app.start_app(sup, env, http_host, http_port)
    seed_lines = [] if args.no_seed else app.seed_demo(sup, env)
    summary.caseloop_running(
        public_url, configured_secret_key() is not None, seed_lines, configured_payload_keys()
    )
    sup.watch()


def cmd_run(args: argparse.Namespace) -> int:
    sup = Supervisor()
    sup.install_signal_handlers()
    try:
        run_all(sup, args)
        return 0  # not reached: watch() ends with an exception
    except Shutdown:
        console.clear_status()
        console.print()
        sup.stop_all()
        console.ok("stopped; data kept in .data/")
        return 0
    except ChildDied as exc:
        exc.child.flush_output()
        console.error(str(exc))
        report_log(exc.child.log)
        sup.stop_all()
        return 1
    except StartupError as exc:
        console.error(str(exc))
        report_log(exc.log)
        sup.stop_all()
        return 1
    except BaseException:
        sup.stop_all()
        raise


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="`make run`: all of Caseloop on one machine (DESIGN §10, the embedded default)."
    )
    parser.add_argument("--no-seed", action="store_true", help=f"skip `{app.CLI} seed-demo`")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("temporal", help="start only the Temporal dev server")
    reg = sub.add_parser(
        "register-search-attributes", help="register the search attributes on a running server"
    )
    reg.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", TEMPORAL_ADDRESS))
    reg.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    reg.add_argument("--wait", type=float, default=180.0, help="seconds to wait for the server")
    args = parser.parse_args(argv)
    args.temporal_only = args.command == "temporal"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "register-search-attributes":
        return register_on(args.address, args.namespace, args.wait)
    return cmd_run(args)
