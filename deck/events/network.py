"""Outbound connections to destinations, with the SSRF guard applied at connect time.

A destination's host name is resolved when a connection is opened, every address is vetted,
and the socket is opened to the vetted address itself: a name that resolves to a public
address at creation and to 169.254.169.254 later (DNS rebinding) is caught, because nothing
resolves the name a second time. TLS still verifies and sends SNI for the name in the URL
(httpcore passes the URL's host to ``start_tls``), and the Host header is the URL's.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore

from deck.events.errors import DeliveryRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints, named even where a broader rule already covers them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Read at most this much of a response: the log keeps the first kilobyte, and a receiver
# streaming an endless body must not hold the sender.
MAX_RESPONSE_BYTES = 64 * 1024


def address_is_public(address: IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved, unspecified, shared
    (CGNAT) and metadata addresses, including IPv4 addresses wrapped in IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = address.ipv4_mapped or address.sixtofour
        if wrapped is not None:
            return address_is_public(wrapped)
    return not (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def host_is_literal_private(host: str) -> bool:
    """For early feedback at creation: ``localhost`` or a non-public IP literal."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not address_is_public(ipaddress.ip_address(host))
    except ValueError:
        return False


def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses a connection to ``host`` may use, in resolver order. Raises
    ``DeliveryRefused`` when the name does not resolve or resolves only to refused ranges."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryRefused(f"{host} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if allow_private:
        return addresses
    allowed = [a for a in addresses if address_is_public(ipaddress.ip_address(a.split("%")[0]))]
    if not allowed:
        raise DeliveryRefused(
            f"{host} resolves to {', '.join(addresses)}: loopback, private, link-local and "
            "metadata addresses are refused (DECK_DESTINATIONS_ALLOW_PRIVATE)."
        )
    return allowed


# -- HTTP ---------------------------------------------------------------------------------

# The wall-clock deadline of the request this thread is sending: httpcore's timeouts apply to
# each read and write, so a receiver trickling one byte at a time would otherwise never time
# out.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "deck_events_deadline", default=None
)


def _remaining(timeout: float | None) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("no complete answer within the delivery timeout")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, connecting only to addresses ``resolve`` allowed."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in resolve(host, port, allow_private=self.allow_private):
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=_remaining(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return _DeadlineStream(stream)
        assert last_error is not None  # resolve() never returns an empty list
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise DeliveryRefused("Unix sockets are not a destination.")


_pools: dict[bool, httpcore.ConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool(allow_private: bool) -> httpcore.ConnectionPool:
    """One keep-alive pool per process and policy, so a connection opened while private
    addresses were allowed is never reused once they are not."""
    with _pools_lock:
        pool = _pools.get(allow_private)
        if pool is None:
            pool = _pools[allow_private] = httpcore.ConnectionPool(
                ssl_context=ssl.create_default_context(),
                max_connections=100,
                keepalive_expiry=30,
                retries=0,
                network_backend=GuardedBackend(allow_private=allow_private),
            )
        return pool


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


@contextmanager
def _deadline_of(timeout: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + timeout)
    try:
        yield
    finally:
        _deadline.reset(token)


def http_post(
    *, url: str, headers: list[tuple[str, str]], body: bytes, timeout: float, allow_private: bool
) -> HttpAnswer:
    """POST without following redirects, the whole exchange bounded by ``timeout``. Raises
    ``DeliveryRefused`` (SSRF guard) or ``httpcore`` errors (timeouts, refused connections)."""
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    with (
        _deadline_of(timeout),
        _pool(allow_private).stream(
            "POST", url, headers=headers, content=body, extensions={"timeout": limits}
        ) as response,
    ):
        received = bytearray()
        for chunk in response.iter_stream():
            received += chunk
            if len(received) >= MAX_RESPONSE_BYTES:
                break
        answer_headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in response.headers
        }
        return HttpAnswer(status=response.status, headers=answer_headers, body=bytes(received))
