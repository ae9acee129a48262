"""Malware scanning behind one interface: ``scan(data) -> ScanResult``.

By default a built-in signature scanner (EICAR plus a small bundled rule set in
``signatures.json``); with ``CLAMD_HOST`` (and ``CLAMD_PORT``) or ``CLAMD_SOCKET`` set, the
ClamAV daemon over its INSTREAM protocol. Neither ever says "clean" without having looked:
a scanner with no signatures, or a daemon that cannot answer, raises ``ScanUnavailable``.
"""

from __future__ import annotations

import json
import re
import socket
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from storage.errors import ScanUnavailable

SIGNATURES_PATH = Path(__file__).with_name("signatures.json")
CLAMD_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    signature: str | None = None


class Scanner(Protocol):
    def scan(self, data: bytes) -> ScanResult: ...


@dataclass(frozen=True)
class Rule:
    """Matches when every condition holds."""

    name: str
    prefix: bytes | None
    contains: tuple[bytes, ...]
    patterns: tuple[re.Pattern[bytes], ...]

    def matches(self, data: bytes) -> bool:
        if self.prefix is not None and not data.startswith(self.prefix):
            return False
        return all(part in data for part in self.contains) and all(
            pattern.search(data) for pattern in self.patterns
        )


def rules_load(path: Path) -> tuple[Rule, ...]:
    """Rules from a signature file; a malformed file is an error, never an empty rule set."""
    try:
        document: Any = json.loads(path.read_text())
        rules = []
        for entry in document["rules"]:
            conditions = entry["conditions"]
            if not conditions:
                raise ValueError(f"rule {entry['name']!r} has no conditions")
            prefixes = [bytes.fromhex(c["prefix_hex"]) for c in conditions if "prefix_hex" in c]
            rules.append(
                Rule(
                    name=str(entry["name"]),
                    prefix=prefixes[0] if prefixes else None,
                    contains=tuple(bytes.fromhex(c["hex"]) for c in conditions if "hex" in c),
                    patterns=tuple(
                        re.compile(c["regex"].encode()) for c in conditions if "regex" in c
                    ),
                )
            )
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise ScanUnavailable(f"The signature file {path} cannot be used: {exc}") from exc
    return tuple(rules)


class SignatureScanner:
    """The built-in scanner: byte and regex signatures from a data file."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def scan(self, data: bytes) -> ScanResult:
        if not self.rules:
            raise ScanUnavailable("The built-in scanner has no signatures; refusing a verdict.")
        for rule in self.rules:
            if rule.matches(data):
                return ScanResult(clean=False, signature=rule.name)
        return ScanResult(clean=True)


class ClamdScanner:
    """ClamAV's daemon: ``zINSTREAM`` over TCP or a unix socket."""

    def __init__(
        self, *, host: str = "", port: int = 3310, socket_path: str = "", timeout: float = 30
    ) -> None:
        if not (host or socket_path):
            raise ValueError("ClamdScanner needs a host or a socket path")
        self.host, self.port, self.socket_path, self.timeout = host, port, socket_path, timeout

    def _connect(self) -> socket.socket:
        if self.socket_path:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(self.timeout)
            conn.connect(self.socket_path)
            return conn
        return socket.create_connection((self.host, self.port), timeout=self.timeout)

    def scan(self, data: bytes) -> ScanResult:
        try:
            with self._connect() as conn:
                conn.sendall(b"zINSTREAM\0")
                for start in range(0, len(data), CLAMD_CHUNK):
                    chunk = data[start : start + CLAMD_CHUNK]
                    conn.sendall(struct.pack("!L", len(chunk)) + chunk)
                conn.sendall(struct.pack("!L", 0))
                reply = b""
                while not reply.endswith(b"\0"):
                    part = conn.recv(4096)
                    if not part:
                        break
                    reply += part
        except OSError as exc:
            raise ScanUnavailable(f"clamd did not answer: {exc}") from exc
        return clamd_reply_parse(reply.rstrip(b"\0").decode("utf-8", "replace").strip())


def clamd_reply_parse(reply: str) -> ScanResult:
    """``stream: OK`` / ``stream: <signature> FOUND`` / ``<reason> ERROR``."""
    _, _, verdict = reply.partition(": ")
    if verdict == "OK":
        return ScanResult(clean=True)
    if verdict.endswith(" FOUND"):
        return ScanResult(clean=False, signature=verdict.removesuffix(" FOUND"))
    raise ScanUnavailable(f"clamd could not scan the file: {reply or 'no answer'}")


@cache
def _builtin() -> SignatureScanner:
    return SignatureScanner(rules_load(SIGNATURES_PATH))


def scanner() -> Scanner:
    """clamd when configured, else the built-in signatures."""
    if settings.CLAMD_SOCKET or settings.CLAMD_HOST:
        return ClamdScanner(
            host=settings.CLAMD_HOST,
            port=settings.CLAMD_PORT,
            socket_path=settings.CLAMD_SOCKET,
            timeout=settings.CLAMD_TIMEOUT_SECONDS,
        )
    return _builtin()


def scan(data: bytes) -> ScanResult:
    return scanner().scan(data)
