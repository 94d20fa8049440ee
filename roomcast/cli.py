"""The `roomcast` command: serve, worker, create-admin, export, import, migrate (and load, for
load testers)."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger("roomcast")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomcast", description="Roomcast: a WebSocket-first collaboration server."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve Socket.IO, REST, health and metrics",
                                description="Serve Socket.IO at /socket.io/, REST at /api/v1/, "
                                "health at /health/*, metrics at /metrics.")
    serve.add_argument("--host", help="interface to bind (default: HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT, else 8000)")
    serve.add_argument("--take-over", action="store_true",
                       help="restart: started while the server on this port and data directory "
                       "still runs, get ready, then stop it and serve in its place")

    worker = commands.add_parser("worker", help="run background-job workers",
                                 description="Run Taskiq workers for ingestion and analyses.")
    worker.add_argument("--concurrency", type=int,
                        help="jobs run at once by this process (default: WORKER_CONCURRENCY)")

    commands.add_parser("load", help="drive Socket.IO clients through load scenarios",
                        add_help=False)

    admin = commands.add_parser("create-admin", help="create or promote an admin account",
                                description="Create an admin account (or promote an existing "
                                "one and set its password) in the configured store.")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="Admin")
    admin.add_argument("--password", help="read from stdin or a prompt when omitted")

    export = commands.add_parser(
        "export", help="write every document and object of the store to a directory",
        description="Write every collection (BSON, with a manifest of counts and checksums) "
        "and every stored object of the configured store to DIR, a new or empty directory. "
        "The embedded store's server must be stopped.")
    export.add_argument("dir", type=Path)
    load = commands.add_parser(
        "import", help="load an export into the configured, empty store",
        description="Check DIR against its manifest, load it into the configured store "
        "(which must be empty), then read it back and verify counts and checksums.")
    load.add_argument("dir", type=Path)
    migrate = commands.add_parser(
        "migrate", help="bring stored documents to this version's schema",
        description="Apply the schema migrations the store lacks (start-up does this too).")
    migrate.add_argument("--dry-run", action="store_true",
                         help="show what would change, change nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["load"]:
        # The load tool talks to servers over the network only and reads no server settings.
        from load.cli import main as load_main

        return load_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        sock = _listen_early(args)
    except ConfigError as exc:
        print(f"roomcast: refusing to start: {exc}", file=sys.stderr)
        return 2
    from core.settings import Settings

    try:
        settings = Settings()
        settings.check_production()
    except (ConfigError, ValueError) as exc:
        if sock is not None:
            sock.close()
        print(f"roomcast: refusing to start: {exc}", file=sys.stderr)
        return 2
    from roomcast.logs import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)
    try:
        return _run(args, settings, sock)
    except ConfigError as exc:  # found while building (an unreadable key file, a damaged or
        # busy embedded store, a dump that does not match its manifest)
        print(f"roomcast: refusing to {_verb(args.command)}: {exc}", file=sys.stderr)
        return 2


def _verb(command: str) -> str:
    return "start" if command in ("serve", "worker") else command


def _listen_early(args: argparse.Namespace) -> socket.socket | None:
    """`serve --host H --port P` listens before anything else, the settings included (until it
    listens, a restart's reconnects are refused); without both, it listens once the settings
    name the address."""
    if args.command != "serve" or not args.host or args.port is None or args.take_over:
        return None
    from roomcast.listening import listen

    return listen(args.host, args.port)


def prepare_serving() -> None:
    """What a serving process needs only later is left for later; called before the server is
    imported. python-socketio's, Engine.IO's and taskiq's clients (aiohttp, requests) are no
    part of a server: imported only if something asks for them (realtime/wire/client_sides.py).
    A pydantic model builds its validator when first used instead of as its class is made: most
    models are the REST side's, which a restarted process needs little of before it has
    answered its clients (tests/unit/test_serve_imports.py builds every one of them)."""
    from realtime.wire.client_sides import defer_client_sides

    defer_client_sides()
    import pydantic

    pydantic.BaseModel.model_config["defer_build"] = True


def _run(args: argparse.Namespace, settings: Settings, sock: socket.socket | None) -> int:
    if args.command == "serve":
        from roomcast.listening import listen

        # Listening first: a client arriving while the rest starts waits instead of being
        # refused (roomcast/listening.py).
        host = args.host or settings.host
        port = settings.port if args.port is None else args.port
        if sock is None and not args.take_over:
            sock = listen(host, port)
        prepare_serving()
        from roomcast.serve import serve

        if args.take_over:
            # Everything imported while the old process still serves; then it is stopped and
            # this one listens as soon as it can (roomcast/takeover.py).
            from roomcast.takeover import take_over

            sock = take_over(settings, host, port)
        return serve(settings, host=host, sock=sock)
    if args.command == "worker":
        from roomcast.worker import run_worker

        return run_worker(settings, concurrency=args.concurrency)
    import asyncio  # here, not at the top: `serve` listens before importing it

    if args.command == "create-admin":
        return asyncio.run(_create_admin(settings, args))
    if args.command in ("export", "import", "migrate"):
        return asyncio.run(_maintain(settings, args))
    return 2


async def _maintain(settings: Settings, args: argparse.Namespace) -> int:
    from roomcast.maintenance import export_command, import_command, migrate_command

    if args.command == "export":
        print(await export_command(settings, args.dir))
    elif args.command == "import":
        print(await import_command(settings, args.dir))
    else:
        print(await migrate_command(settings, dry_run=args.dry_run))
    return 0


async def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from core.passwords import PasswordHasher
    from roomcast.bootstrap import create_admin
    from roomcast.maintenance import opened_stores

    password = args.password
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline()
        password = password.rstrip("\n")
    if len(password) < 8:
        print("roomcast: the password must have at least 8 characters", file=sys.stderr)
        return 2
    async with opened_stores(settings) as stores:
        await stores.ensure_indexes()
        account = await create_admin(stores, PasswordHasher(), email=args.email,
                                     password=password, name=args.name)
    verb = "created" if account.created else "promoted"
    print(f"admin {account.email} {verb}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
