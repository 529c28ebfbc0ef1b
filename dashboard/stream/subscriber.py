"""The one subscriber thread per process: reads pub/sub straight off the socket, survives Redis.

redis-py sets up the connection (URL, auth, TLS, RESP version); the messages are then read
with hiredis directly, several hundred thousand a second, and handed to `handler` in chunks.
A dead link (closed socket, reset, no answer to a ping, Redis dropping a slow subscriber at its
`client-output-buffer-limit pubsub`) is noticed within seconds and followed by reconnecting
with backoff and subscribing again.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence

import hiredis
import redis

from dashboard import constants as C

log = logging.getLogger(__name__)

Handler = Callable[[list], None]  # gets replies: [b"message", channel, payload] lists, and others to skip


class LinkLost(ConnectionError):
    """The Redis connection is gone or unresponsive."""


class Subscriber:
    """Subscribes to `channels` on `url` and calls `handler(messages)` from its own thread."""

    def __init__(self, url: str, channels: Sequence[str], handler: Handler, *,
                 ping_idle: float = C.PING_IDLE_S, ping_timeout: float = C.PING_TIMEOUT_S,
                 connect_timeout: float = 3.0):
        self.url = url
        self.channels = list(channels)
        self.handler = handler
        self.ping_idle = ping_idle
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.state = "idle"  # idle, connecting, connected, reconnecting, stopped
        self.connects = 0
        self.reconnects = 0
        self.disconnected_s = 0.0
        self.last_error: str | None = None
        self.last_message_at: dict[str, float] = {}  # channel -> epoch seconds (kept by the handler)
        self.messages = 0  # replies read since start (messages, and the odd pong)
        self.last_batch_at: float | None = None  # monotonic time of the latest read
        self._down_since: float | None = None
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: redis.connection.AbstractConnection | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Subscriber:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tickstock-subscriber", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading and close the connection; returns once the thread has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close()
        self.state = "stopped"

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Block until every channel is subscribed (True) or the timeout passes (False)."""
        return self._subscribed.wait(timeout)

    def snapshot(self) -> dict:
        down = self.disconnected_s
        if self._down_since is not None:
            down += time.monotonic() - self._down_since
        return {
            "state": self.state,
            "url": _redact(self.url),
            "connects": self.connects,
            "reconnects": self.reconnects,
            "disconnected_s": round(down, 3),
            "last_error": self.last_error,
            "messages": self.messages,
            "last_message_at": dict(self.last_message_at),
        }

    # ------------------------------------------------------------ the loop

    def _run(self) -> None:
        backoff = C.RECONNECT_BACKOFF_MIN_S
        self._down_since = time.monotonic()
        while not self._stop.is_set():
            self.state = "connecting" if self.connects == 0 else "reconnecting"
            try:
                sock = self._connect()
                backoff = C.RECONNECT_BACKOFF_MIN_S
                self._read(sock)
            except (OSError, LinkLost, redis.RedisError) as exc:
                if self._stop.is_set():
                    break
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("Redis link lost (%s); reconnecting in %.1f s", self.last_error, backoff)
            except Exception as exc:  # the handler failed: keep the loop alive, say so
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("subscriber handler failed; reconnecting")
            finally:
                self._subscribed.clear()
                self._close()
                if self._down_since is None:
                    self._down_since = time.monotonic()
            if self._stop.is_set():
                break
            self.state = "reconnecting"
            self._stop.wait(backoff * (0.75 + random.random() / 2))
            backoff = min(backoff * 2, C.RECONNECT_BACKOFF_MAX_S)
        self.state = "stopped"

    def _connect(self) -> socket.socket:
        pool = redis.ConnectionPool.from_url(
            self.url, socket_connect_timeout=self.connect_timeout, socket_timeout=self.connect_timeout,
            socket_keepalive=True, protocol=2,  # RESP2: messages arrive as plain lists
        )
        conn = pool.make_connection()
        conn.connect()
        self._conn = conn
        conn.send_command("SUBSCRIBE", *self.channels)
        sock = conn._sock  # read below with our own hiredis reader (redis-py's parser is idle)
        sock.setblocking(False)
        return sock

    def _read(self, sock: socket.socket) -> None:
        reader = hiredis.Reader()
        pending_subs = len(self.channels)
        last_rx = time.monotonic()
        ping_sent: float | None = None
        handler, stop = self.handler, self._stop
        while not stop.is_set():
            try:
                data = sock.recv(C.SOCKET_READ_BYTES)  # busy: read again at once, no select
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                data = None  # nothing to read yet (over TLS too)
            if data is None:
                ready, _, _ = select.select([sock], [], [], 0.25)
                if not ready:
                    now = time.monotonic()
                    if ping_sent is not None and now - ping_sent > self.ping_timeout:
                        raise LinkLost(f"no answer to PING within {self.ping_timeout:.1f} s")
                    if ping_sent is None and now - last_rx > self.ping_idle:
                        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                        ping_sent = now
                continue
            if not data:
                raise LinkLost("connection closed by Redis")
            now = time.monotonic()
            last_rx, ping_sent = now, None
            reader.feed(data)
            replies = list(iter(reader.gets, False))  # parsed in C, one list per reply
            if pending_subs:
                pending_subs = self._confirm(replies, pending_subs)
            if replies:
                self.messages += len(replies)
                self.last_batch_at = now
                handler(replies)
        if not pending_subs:
            self._drain(sock, reader)

    def _drain(self, sock: socket.socket, reader: hiredis.Reader) -> None:
        """On stop, take what Redis delivered before it: a PING's answer comes after every message
        published before the PING was sent (bounded by DRAIN_TIMEOUT_S)."""
        deadline = time.monotonic() + C.DRAIN_TIMEOUT_S
        try:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    return
                data = sock.recv(C.SOCKET_READ_BYTES)
                if not data:
                    return
                reader.feed(data)
                replies = list(iter(reader.gets, False))
                done = any(type(r) is list and r and r[0] == b"pong" for r in replies)
                messages = [r for r in replies if type(r) is list and r and r[0] == b"message"]
                if messages:
                    self.messages += len(messages)
                    self.handler(messages)
                if done:
                    return
        except (OSError, ssl.SSLError, hiredis.ProtocolError):
            return  # the link went with the stop: nothing more to take

    def _confirm(self, replies: list, pending: int) -> int:
        """Take subscribe confirmations (and errors) out of `replies`; returns those still awaited."""
        kept = []
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise LinkLost(f"Redis error: {reply}")
            if type(reply) is list and reply and reply[0] == b"subscribe":
                pending -= 1
                if pending == 0:
                    self._on_subscribed()
            else:
                kept.append(reply)
        replies[:] = kept
        return pending

    def _on_subscribed(self) -> None:
        if self._down_since is not None:
            if self.connects:
                self.disconnected_s += time.monotonic() - self._down_since
                self.reconnects += 1
            self._down_since = None
        self.connects += 1
        self.state = "connected"
        self.last_error = None
        self._subscribed.set()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing left to release
                conn.disconnect()


def _redact(url: str) -> str:
    """The URL without its password, for status pages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***' if ':' in creds else user}@{host}"
