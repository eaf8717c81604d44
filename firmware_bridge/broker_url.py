"""Where the bridge's MQTT connections go: broker URLs (`mqtt://`, `mqtts://…?ca=FILE`), their TLS
context, and a person's sentence for a failed connection. No paho here: the client uses these."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlencode, urlsplit


class BrokerUrlError(ValueError):
    """A broker URL that is not `mqtt://[user[:password]@]host[:port]` or `mqtts://…[?ca=FILE]`."""


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """Where and as whom to connect. The password is left out of `repr` so logs never show it."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    # The CA certificate(s) the broker's certificate must chain to; None: the system's CAs.
    ca_file: str | None = None

    def __repr__(self) -> str:
        return f"BrokerUrl({self.redacted()!r})"

    def redacted(self) -> str:
        """The URL with the password replaced by `***`, safe for logs and error messages."""
        scheme = "mqtts" if self.tls else "mqtt"
        who = ""
        if self.username is not None:
            who = self.username + (":***" if self.password is not None else "") + "@"
        query = "?" + urlencode({"ca": self.ca_file}, safe="/") if self.ca_file else ""
        return f"{scheme}://{who}{self.host}:{self.port}{query}"

    def tls_context(self) -> ssl.SSLContext:
        """A client context that verifies the broker's certificate and host name; BrokerUrlError if the
        CA file cannot be read."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise BrokerUrlError(f"the broker's CA file {self.ca_file} cannot be used: {reason}") from None
        context.sslsocket_class = _ClosingSSLSocket
        return context


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails: paho drops such a socket without closing it, and a
    gateway retrying an untrusted broker every few seconds would leak a descriptor each time."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def parse_broker_url(url: str) -> BrokerUrl:
    """Parse `mqtt://user:pass@host:port` (or `mqtts://…[?ca=FILE]` for TLS); raise `BrokerUrlError`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BrokerUrlError(f"bad broker URL: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerUrlError(f"broker URL must start with mqtt:// or mqtts://, got {parts.scheme!r}")
    if not parts.hostname:
        raise BrokerUrlError("broker URL has no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise BrokerUrlError("broker URL must be mqtt://user:pass@host:port with nothing after")
    tls = parts.scheme == "mqtts"
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    if set(query) - {"ca"} or any(len(values) != 1 for values in query.values()):
        raise BrokerUrlError("the only option of a broker URL is ?ca=FILE (the CA of an mqtts:// broker)")
    ca_file = query["ca"][0] if "ca" in query else None
    if ca_file is not None and not tls:
        raise BrokerUrlError("?ca= is for mqtts:// URLs (TLS); mqtt:// is plain text")
    if ca_file == "":
        raise BrokerUrlError("?ca= needs the path of a CA certificate file")
    broker = BrokerUrl(
        host=parts.hostname,
        port=port if port is not None else (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        ca_file=ca_file,
    )
    if ca_file is not None:
        broker.tls_context()  # a missing or unreadable CA file is a mistake in the URL: say so now
    return broker


def describe_connect_error(broker: BrokerUrl, error: BaseException | None) -> str:
    """One line for a person: why a connection to the broker failed."""
    where = f"{broker.host}:{broker.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        trusted = f"the CA file {broker.ca_file}" if broker.ca_file else "the system's CA certificates"
        why = error.verify_message or error.reason or "certificate verify failed"
        return f"TLS: the broker at {where} is not trusted: {why} (checked against {trusted})"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake with the broker at {where} failed: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return f"nothing accepts MQTT connections at {where} (connection refused)"
    if isinstance(error, socket.gaierror):
        return f"the broker's host name {broker.host} does not resolve ({error.strerror})"
    if isinstance(error, TimeoutError):
        return f"the broker at {where} did not answer in time"
    if isinstance(error, OSError):
        return f"cannot reach the broker at {where}: {error.strerror or error}"
    return f"cannot reach the broker at {where}"
