"""Running the center: `fablab serve` from settings, `fablab demo` on embedded defaults."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import uvicorn
from uvicorn.supervisors import Multiprocess

from firmware_bridge.sim.demo import EdgeDemo
from firmware_bridge.sim.simulator import laser_job
from web import demo as demo_data
from web import listeners, process
from web.app import create_app, utc_now
from web.broker import EmbeddedBroker
from web.db import make_engine, session_scope
from web.http_protocol import HeaderDeadlineProtocol
from web.migrate import current_revision, upgrade
from web.runtime import MachineRuntime
from web.settings import DEV_SECRET as DEV_SECRET_SENTINEL
from web.settings import Settings, is_published_secret

log = logging.getLogger(__name__)
# The MQTT username of the center's own clients on the embedded broker (as in deploy/mosquitto).
CENTER_USER = "fablab-center"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@contextmanager
def _broker_for(
    settings: Settings, gateways: tuple[str, ...] = ()
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """The settings to run with, and the broker URL of each demo gateway: as given if FABLAB_MQTT_URL
    is set, else an embedded broker's, each client with credentials of its own."""
    if settings.mqtt_url:
        yield settings, dict.fromkeys(gateways, settings.broker_url)
        return
    port = settings.embedded_broker_port
    if not _port_free("127.0.0.1", port):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    broker = EmbeddedBroker(port, users=(CENTER_USER, *gateways))
    broker.start()
    try:
        center = settings.model_copy(
            update={"mqtt_url": broker.url_for(CENTER_USER), "mqtt_protocol": "3.1.1"}
        )
        yield center, {gateway: broker.url_for(gateway) for gateway in gateways}
    finally:
        broker.stop()


def kept_secret(settings: Settings) -> Settings:
    """`fablab serve` never signs sessions with a secret anyone can read: a published one (the
    example file's placeholder, whatever its length) is refused; with none set, a random one is made
    once and kept in the data directory (readable by this user only), so sessions outlive a restart."""
    if settings.secret_key != DEV_SECRET_SENTINEL and is_published_secret(settings.secret_key):
        raise SystemExit(
            "fablab: FABLAB_SECRET_KEY is a value printed in FabLab Hub's own files; set a random one "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), or unset it to have one made"
        )
    if settings.secret_key != DEV_SECRET_SENTINEL:
        return settings
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        log.warning("no FABLAB_SECRET_KEY set: made one and kept it in %s (mode 0600)", path)
    key = path.read_text().strip()
    if len(key) < 32:
        raise SystemExit(f"fablab: {path} holds no usable secret key; delete it to have a new one made")
    os.environ["FABLAB_SECRET_KEY"] = key  # for the web worker processes, which read the environment
    return settings.model_copy(update={"secret_key": key})


def serve(settings: Settings, *, host: str, port: int, demo: bool, workers: int = 1) -> int:
    """Start the center (and, in the demo, its demo data and simulated machines); returns the exit status."""
    if not demo:
        settings = kept_secret(settings)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    if demo:
        upgrade(engine)
        with session_scope(engine) as session:
            demo_data.seed_demo(session, utc_now())
    elif current_revision(engine) is None:
        raise SystemExit("fablab: the database is empty; run `fablab db upgrade` first")
    address = f"http://{host}:{port}"
    log_level = settings.log_level.lower()
    gateways = tuple(gateway for _site, gateway in demo_data.DEMO_GATEWAYS) if demo else ()
    with _broker_for(settings, gateways) as (settings, gateway_urls):
        edges = _start_simulated_lab(settings, gateway_urls) if demo else []
        try:
            print(
                _demo_banner(address) if demo else f"FabLab Hub at {address} (API docs at {address}/docs)",
                flush=True,
            )
            if workers > 1:
                # The workers serve HTTP; this process runs the one bridge and the scheduler.
                engine.dispose()
                runtime = MachineRuntime(make_engine(settings.database_url), settings, utc_now)
                runtime.start()
                process.settle()
                os.environ.update(
                    FABLAB_MQTT_URL=settings.mqtt_url,
                    FABLAB_MQTT_PROTOCOL=settings.mqtt_protocol,
                    FABLAB_BRIDGE_ENABLED="false",
                    FABLAB_SCHEDULER_ENABLED="false",
                )
                try:
                    _run_workers(host, port, workers, log_level)
                finally:
                    runtime.stop()
                return 0
            app = create_app(settings, engine=engine)
            process.settle()
            uvicorn.run(
                app, host=host, port=port, log_level=log_level, access_log=False, http=HeaderDeadlineProtocol
            )
        finally:
            for edge in edges:
                with suppress(Exception):
                    edge.stop()
    return 0


def _run_workers(host: str, port: int, workers: int, log_level: str) -> None:
    """uvicorn's supervisor over `workers` web worker processes, each listening on a socket of its own
    where the system allows it (web/listeners.py), else all on one."""
    config = uvicorn.Config(
        "web.asgi:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=HeaderDeadlineProtocol,
    )
    if not listeners.shares_out():
        sock = config.bind_socket()
    else:
        try:
            sock = listeners.reserve(host, port)
        except OSError as exc:
            raise SystemExit(f"fablab: cannot listen on {host}:{port}: {exc.strerror}") from exc
        log.info("FabLab Hub web workers listening on http://%s:%d", host, port)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _start_simulated_lab(settings: Settings, gateway_urls: dict[str, str]) -> list[EdgeDemo]:
    """The demo's gateways and simulated machines, through the same broker as the center."""
    edges = []
    for (site, gateway), machines in demo_data.DEMO_GATEWAYS.items():
        edge = EdgeDemo(
            site,
            gateway,
            gateway_urls[gateway],
            [(machine, kind) for machine, _adapter, kind in machines],
            state_dir=settings.data_dir,
            protocol=settings.mqtt_protocol,
            period_s=5.0,
            # A first laser job a minute in, so a newcomer sees a machine at work without waiting
            # for the random ones.
            scenario=laser_job(machines[0][0], at_s=60, minutes=10) if machines else (),
        )
        # Start once the center is listening, so its first events find the bridge subscribed.
        threading.Timer(3.0, edge.start).start()
        edges.append(edge)
    return edges


def _demo_banner(address: str) -> str:
    lines = [
        "",
        f"  FabLab Hub demo is running at {address}",
        f"  API documentation: {address}/docs",
        "",
        f"  Demo accounts (password: {demo_data.DEMO_PASSWORD})",
    ]
    for account in demo_data.ACCOUNTS:
        lines.append(f"    {account.email:<24} {account.role.value:<8} {account.name}")
    lines.append("")
    return "\n".join(lines)
