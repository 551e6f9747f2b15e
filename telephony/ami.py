"""Asterisk Manager Interface: who is calling (caller number per AudioSocket UUID), with reconnect.

Why AMI: AudioSocket carries only a UUID and audio, so the dialplan announces each call with a
``UserEvent(GovbotCall, Uuid, Caller, …)`` and the bot keeps a small UUID → caller map from the
event stream. Why our own ~100 lines: the bot needs only login, events and reconnect-forever;
Asterisk restarting must never take the bot down, and calls keep working (as "unknown caller")
while the manager connection is away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)
CALL_EVENT = "GovbotCall"
FORGET_AFTER_S = 300.0


@dataclass(frozen=True)
class CallerInfo:
    number: str
    name: str
    channel: str


def parse_message(block: str) -> dict[str, str]:
    """One AMI message ("Key: value" lines) as a dict; later duplicates win."""
    message: dict[str, str] = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            message[key.strip()] = value.strip()
    return message


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str, reconnect_s: float,
                 timeout_s: float) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.reconnect_s, self.timeout_s = reconnect_s, timeout_s
        self.connected = False
        self.callers: dict[str, tuple[float, CallerInfo]] = {}
        self._waiters: dict[str, list[asyncio.Future[CallerInfo]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connections = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ami")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, PermissionError) as exc:
                if self.connected or self.connections == 0:
                    log.warning("AMI %s:%s unavailable (%s); retrying every %.0f s", self.host, self.port,
                                exc or type(exc).__name__, self.reconnect_s)
            finally:
                self.connected = False
            await asyncio.sleep(self.reconnect_s)

    async def _session(self) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout_s)
        try:
            await asyncio.wait_for(reader.readline(), self.timeout_s)  # "Asterisk Call Manager/x.y"
            writer.write(self._action("Login", Username=self.username, Secret=self.secret, Events="user"))
            await writer.drain()
            reply = parse_message(await asyncio.wait_for(self._read_block(reader), self.timeout_s))
            if reply.get("Response") != "Success":
                raise PermissionError(f"AMI login refused: {reply.get('Message', reply)}")
            self.connected = True
            self.connections += 1
            log.info("AMI connected to %s:%s", self.host, self.port)
            while True:
                self._on_message(parse_message(await self._read_block(reader)))
        finally:
            writer.close()

    @staticmethod
    async def _read_block(reader: asyncio.StreamReader) -> str:
        data = await reader.readuntil(b"\r\n\r\n")
        return data.decode("utf-8", errors="replace")

    @staticmethod
    def _action(name: str, **fields: str) -> bytes:
        lines = [f"Action: {name}"] + [f"{key}: {value}" for key, value in fields.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _on_message(self, message: dict[str, str]) -> None:
        if message.get("Event") != "UserEvent" or message.get("UserEvent") != CALL_EVENT:
            return
        uuid = message.get("Uuid", "").lower()
        info = CallerInfo(message.get("Caller", ""), message.get("Callername", message.get("CallerName", "")),
                          message.get("Channel", ""))
        self.remember(uuid, info)

    def remember(self, uuid: str, info: CallerInfo) -> None:
        now = time.monotonic()
        self.callers = {k: v for k, v in self.callers.items() if now - v[0] < FORGET_AFTER_S}
        self.callers[uuid] = (now, info)
        for future in self._waiters.pop(uuid, []):
            if not future.done():
                future.set_result(info)

    async def caller(self, uuid: str, timeout_s: float) -> CallerInfo | None:
        """The caller of the call with this AudioSocket UUID, waiting briefly for its event."""
        uuid = uuid.lower()
        if uuid in self.callers:
            return self.callers.pop(uuid)[1]
        future: asyncio.Future[CallerInfo] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(uuid, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(uuid, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(uuid, None)
            self.callers.pop(uuid, None)
