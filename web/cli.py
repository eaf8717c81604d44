"""The `fablab` command line (CONTRACT §4). User errors give one line and a non-zero exit."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from booking.errors import DomainError
from booking.members import service as members
from booking.members.actors import SYSTEM
from booking.models import Role
from booking.schemas import MemberCreate
from firmware_bridge.client import BrokerUrlError
from firmware_bridge.edge import cli as edge_cli
from firmware_bridge.sim import cli as sim_cli
from web import demo as demo_data
from web.app import utc_now
from web.db import make_engine, session_scope
from web.migrate import upgrade
from web.settings import Settings

Handler = Callable[[argparse.Namespace], int]


class UserError(Exception):
    """A mistake in what the operator asked for: reported in one line."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _settings() -> Settings:
    """The settings; FABLAB_LOG_LEVEL applies to the whole process's log from here on."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise UserError(
            f"bad setting {('FABLAB_' + where.upper()) if where else ''}: {first['msg']}"
        ) from exc
    logging.getLogger().setLevel(settings.log_level)
    return settings


def _cmd_db_upgrade(_args: argparse.Namespace) -> int:
    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")
    return 0


def _cmd_backup(args: argparse.Namespace) -> int:
    from web import backup

    settings = _settings()
    try:
        backup.backup(settings.database_url, Path(args.file))
    except backup.BackupError as exc:
        raise UserError(str(exc)) from exc
    print(f"backed up to {args.file}")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    from web import backup

    settings = _settings()
    try:
        backup.restore(settings.database_url, Path(args.file), replace=args.yes)
    except backup.BackupError as exc:
        raise UserError(str(exc)) from exc
    print(f"restored from {args.file}; run `fablab db upgrade` if the backup is older than this version")
    return 0


def _cmd_seed_demo(_args: argparse.Namespace) -> int:
    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with session_scope(engine) as session:
        created = demo_data.seed_demo(session, utc_now())
    print("demo center loaded" if created else "demo center already present; nothing changed")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise UserError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def _cmd_users_add(args: argparse.Namespace) -> int:
    settings = _settings()
    password = _read_password()
    try:
        data = MemberCreate(
            email=args.email,
            name=args.name or "",
            password=password,
            role=Role(args.role),
            plan_id=args.plan,
            card_uid=args.card,
            sites=[args.site] if args.site else [],
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        raise UserError(f"{field}: {first['msg']}") from exc
    engine = make_engine(settings.database_url)
    password_hash = members.new_password_hash(  # before the write transaction
        data.password, known=(data.email, data.name)
    )
    with session_scope(engine) as session:
        member = members.create_member(session, SYSTEM, data, utc_now(), password_hash=password_hash)
    print(f"created {member.role.value} {member.email} (id {member.id})")
    return 0


def _cmd_trainings_grant(args: argparse.Namespace) -> int:
    settings = _settings()
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        grant = members.grant_training(session, SYSTEM, args.email, args.training, utc_now())
        expires = f", valid until {grant.expires_at:%Y-%m-%d}" if grant.expires_at else ""
    print(f"{args.email} now holds {args.training}{expires}")
    return 0


def _cmd_machines_add(args: argparse.Namespace) -> int:
    from devices.registry import service as registry
    from devices.schemas import MachineCreate

    settings = _settings()
    try:
        data = MachineCreate(
            id=args.id,
            site_id=args.site,
            name=args.name,
            gateway_id=args.gateway,
            adapter=args.adapter,
            training_id=args.training,
            quota_group=args.quota_group,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first['msg']}") from exc
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        # The command line acts for the operator: no signed-in actor to check.
        machine = registry.register_machine(session, None, data, utc_now())
    print(f"registered machine {machine.id} at {machine.site_id}, spoken for by gateway {machine.gateway_id}")
    return 0


def _cmd_bridge(_args: argparse.Namespace) -> int:
    import signal
    import threading

    from web import process
    from web.app import utc_now as clock
    from web.runtime import MachineRuntime

    settings = _settings()
    if not settings.mqtt_url:
        raise UserError("the bridge needs a broker: set FABLAB_MQTT_URL (mqtt://user:pass@host:port)")
    runtime = MachineRuntime(make_engine(settings.database_url), settings, clock)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime.start()
    process.settle()
    print(f"bridge and scheduler running against {settings.mqtt_url.split('@')[-1]}", flush=True)
    stop.wait()
    runtime.stop()
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from web import server

    return server.serve(_settings(), host=args.host, port=args.port, demo=False, workers=args.workers)


def _cmd_demo(args: argparse.Namespace) -> int:
    from web import server

    return server.serve(_settings(), host=args.host, port=args.port, demo=True)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fablab", description="FabLab Hub: book and watch a maker center.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    for name, handler, help_text in (
        ("demo", _cmd_demo, "the whole center on embedded defaults with demo data"),
        ("serve", _cmd_serve, "web, bridge and scheduler from FABLAB_* settings"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8000)
        command.set_defaults(handler=handler)
        if name == "serve":
            command.add_argument(
                "--workers",
                type=int,
                default=1,
                help="web worker processes (the machines' bridge runs in one)",
            )

    commands.add_parser(
        "bridge", help="the MQTT bridge and the scheduler alone, without the web server"
    ).set_defaults(handler=_cmd_bridge)

    db = commands.add_parser("db", help="the database")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("upgrade", help="create or migrate the database").set_defaults(
        handler=_cmd_db_upgrade
    )

    backup = commands.add_parser("backup", help="copy the database, while the center runs, into FILE")
    backup.add_argument("file")
    backup.set_defaults(handler=_cmd_backup)
    restore = commands.add_parser("restore", help="bring a backup back (stop the center first)")
    restore.add_argument("file")
    restore.add_argument("--yes", action="store_true", help="replace a database that holds data")
    restore.set_defaults(handler=_cmd_restore)

    seed = commands.add_parser("seed", help="load data")
    seed_commands = seed.add_subparsers(dest="seed_command", required=True, parser_class=_Parser)
    seed_commands.add_parser("demo", help="load the demo center").set_defaults(handler=_cmd_seed_demo)

    users = commands.add_parser("users", help="accounts")
    user_commands = users.add_subparsers(dest="users_command", required=True, parser_class=_Parser)
    add = user_commands.add_parser("add", help="create an account; the password is read from stdin")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--site", help="the site a manager manages or a kiosk is bound to")
    add.add_argument("--plan")
    add.add_argument("--card", help="the member's RFID card UID (hex)")
    add.add_argument("--name")
    add.set_defaults(handler=_cmd_users_add)

    trainings = commands.add_parser("trainings", help="trainings")
    training_commands = trainings.add_subparsers(
        dest="trainings_command", required=True, parser_class=_Parser
    )
    grant = training_commands.add_parser("grant", help="record that a member holds a training")
    grant.add_argument("email")
    grant.add_argument("training")
    grant.set_defaults(handler=_cmd_trainings_grant)

    machines = commands.add_parser("machines", help="machines")
    machine_commands = machines.add_subparsers(dest="machines_command", required=True, parser_class=_Parser)
    madd = machine_commands.add_parser("add", help="register a machine and the gateway that speaks for it")
    madd.add_argument("id")
    madd.add_argument("--site", required=True)
    madd.add_argument("--name", required=True)
    madd.add_argument("--gateway", required=True)
    madd.add_argument("--adapter", default="native", choices=["tasmota", "shelly", "octoprint", "native"])
    madd.add_argument("--training")
    madd.add_argument("--quota-group", dest="quota_group")
    madd.set_defaults(handler=_cmd_machines_add)

    edge_cli.register(commands)
    sim_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's mistake is one line on stderr and exit status 1 (2 for bad usage)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (UserError, DomainError) as exc:
        message: Any = exc.detail if isinstance(exc, DomainError) else exc
        print(f"fablab: {message}", file=sys.stderr)
        return 1
    except BrokerUrlError as exc:
        print(f"fablab: the MQTT broker's settings: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        print(f"fablab: cannot reach the database: {str(exc.orig).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
