"""Asterisk Manager Interface on ``asterisk-ami``: who is calling (caller number per AudioSocket UUID).

Why AMI: AudioSocket carries only a UUID and audio, so the dialplan announces each call with a
``UserEvent(GovbotCall, Uuid, Caller, …)`` and the bot keeps a small UUID → caller map from the
event stream. Asterisk restarting must never take the bot down: the connection is retried forever
(``common.backoff``), and calls keep working as "unknown caller" while it is away. The same
connection sends manager actions (``AmiClient.action``), so the robocall dialler (issue 12) adds
``Originate`` here rather than opening a second connection.

Why a thread: asterisk-ami 0.1.7 is synchronous (a blocking socket, its own reader thread), so the
connection is kept by a thread of its own and events reach the event loop through
``loop.call_soon_threadsafe``; the loop never waits on Asterisk. What that library does, measured here,
and what this module does about it:

- its ``timeout`` is also the socket's read timeout, so its reader thread dies after that long without
  traffic: we send ``Ping`` every ``ping_s`` (< ``timeout_s``), which also notices a dead peer;
- its ``FutureResponse`` blocks a thread and calls the deprecated ``Condition.notifyAll`` while holding
  its lock: under ``-W error::DeprecationWarning`` the reader thread raises there and every waiter
  deadlocks. ``_Connection`` hands responses to ``concurrent.futures.Future`` objects instead (awaitable
  from the loop with ``asyncio.wrap_future``);
- ``disconnect()`` only closes the socket: we send ``Logoff`` first, so Asterisk ends the session cleanly.

``connected`` means "logged in and Asterisk fully booted": its manager port opens before the dialplan
is loaded, and a call or an ``Originate`` in that window fails ("PBX requires Asterisk to be fully booted").
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from asterisk.ami import Action, AMIClient, Event, Response

from common.backoff import Backoff

log = logging.getLogger(__name__)
CALL_EVENT = "GovbotCall"
FORGET_AFTER_S = 300.0
BOOTED_EVENT = "FullyBooted"  # sent on login once Asterisk is up, or when it finishes booting
EVENT_CLASSES = "system,user"  # FullyBooted and UserEvents; the dialler adds "call" for OriginateResponse


class AmiUnavailable(ConnectionError):
    """No manager session right now (Asterisk down or restarting): the caller decides what to do."""


class AmiRefused(PermissionError):
    """Asterisk answered a login or an action with ``Response: Error``."""


@dataclass(frozen=True)
class CallerInfo:
    number: str
    name: str
    channel: str


class _Connection(AMIClient):
    """asterisk-ami's client (socket, reader thread, parsing) with responses delivered to concurrent futures.

    ``send_action`` and ``fire_recv_reponse`` (sic) are the library's own methods for sending an action
    and receiving its response; only what happens to the response differs (see the module docstring).
    """

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        super().__init__(address=host, port=port, timeout=timeout_s)
        self._ids = itertools.count()  # next() is atomic: actions come from the keeper thread and the loop
        self._responses: dict[str, Future[Response]] = {}
        self._send_lock = threading.Lock()  # one action's bytes at a time on the socket

    def connect(self) -> None:
        try:
            super().connect()
        except OSError:
            self._socket.close()  # refused or timed out: nothing else will close it
            raise

    def next_action_id(self) -> str:
        return str(next(self._ids))

    def send(self, pack: Action) -> None:
        with self._send_lock:
            super().send(pack)

    def send_action(self, action: Action, callback: Any = None) -> Future[Response]:
        action_id = action.keys.setdefault("ActionID", self.next_action_id())
        future: Future[Response] = Future()
        self._responses[action_id] = future
        try:
            self.send(action)
        except OSError:
            self._responses.pop(action_id, None)
            raise
        return future

    def fire_recv_reponse(self, response: Response) -> None:
        if response.status.lower() == "goodbye":
            self.finished.set()
        future = self._responses.pop(response.keys.get("ActionID", ""), None)
        if future is not None and not future.done():
            future.set_result(response)


def _reply(response: Response) -> dict[str, str]:
    return {"Response": response.status, **response.keys}


class AmiClient:
    """One manager session kept open by a thread: caller info per call, and actions for whoever needs them."""

    def __init__(self, host: str, port: int, username: str, secret: str, reconnect_s: float, timeout_s: float,
                 ping_s: float | None = None, reconnect_max_s: float | None = None,
                 events: str = EVENT_CLASSES) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.timeout_s, self.events = timeout_s, events
        self.ping_s = ping_s if ping_s is not None else timeout_s / 2
        if not 0 < self.ping_s < timeout_s:
            raise ValueError(f"AMI ping interval {self.ping_s} s must be below the read timeout {timeout_s} s")
        self.backoff = Backoff(reconnect_s, reconnect_max_s if reconnect_max_s is not None else reconnect_s)
        self.connected = False
        self.connections = 0  # sessions that became ready so far (a reconnect adds one)
        self.callers: dict[str, tuple[float, CallerInfo]] = {}
        self._waiters: dict[str, list[asyncio.Future[CallerInfo]]] = {}
        self._client: _Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()  # stop() or a lost connection: the keeper acts now, not at its next Ping
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> AmiClient:
        """From ``[telephony]``; the secret is the one Asterisk's manager.conf is rendered with."""
        from common import settings

        return cls(conf["host"], int(conf["ami_port"]), conf["ami_user"],
                   settings.read_or_create_secret(conf["ami_secret_file"]), float(conf["ami_reconnect_s"]),
                   float(conf["ami_timeout_s"]), float(conf["ami_ping_s"]), float(conf["ami_reconnect_max_s"]))

    # -- lifecycle (call from the event loop) --------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._keep, name="ami", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Log off and close; returns once the keeper thread has ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, self.timeout_s * 3)
            self._thread = None

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        """Send one manager action on this session and return its response's fields (``Response``, …).

        Raises AmiUnavailable while there is no session, AmiRefused on ``Response: Error``, TimeoutError
        when Asterisk does not answer within ``timeout_s``.
        """
        client = self._client
        if client is None or not self.connected:
            raise AmiUnavailable(f"AMI {self.host}:{self.port} is not connected")
        try:
            future = await asyncio.to_thread(client.send_action, Action(name, dict(fields)))
        except OSError as exc:
            raise AmiUnavailable(f"AMI {self.host}:{self.port}: {exc}") from exc
        response = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        if response.is_error():
            raise AmiRefused(f"AMI {name} refused: {response.keys.get('Message', response.status)}")
        return _reply(response)

    # -- the keeper thread ---------------------------------------------------------------------------
    def _keep(self) -> None:
        while not self._stopping.is_set():
            try:
                self._session()
            except (OSError, FutureTimeout, AmiRefused) as exc:
                if self.backoff.failures == 0:
                    log.warning("AMI %s:%s unavailable (%s); retrying from every %.0f s", self.host, self.port,
                                exc or type(exc).__name__, self.backoff.base_s)
            finally:
                self.connected = False
            self._stopping.wait(self.backoff.failed())  # only stop() cuts a retry wait short

    def _session(self) -> None:
        lost, booted = threading.Event(), threading.Event()
        self._wake.clear()

        def on_disconnect(source: Any, error: BaseException | None = None) -> None:
            if source is not client:
                return  # a previous session's reader saying goodbye late
            lost.set()
            self.connected = False  # at once: a call arriving now must not wait for a caller event
            self._wake.set()

        client = _Connection(self.host, self.port, self.timeout_s)
        client.add_listener(on_disconnect=on_disconnect)
        client.add_event_listener(self._on_event, white_list=["UserEvent"], UserEvent=CALL_EVENT)
        client.add_event_listener(lambda event, source=None: booted.set(), white_list=[BOOTED_EVENT])
        self.listen(client)
        client.connect()
        try:
            login = client.send_action(Action("Login", {"Username": self.username, "Secret": self.secret,
                                                        "Events": self.events}))
            reply = login.result(self.timeout_s)
            if reply.is_error():
                raise AmiRefused(f"AMI login refused: {reply.keys.get('Message', reply.status)}")
            self._client = client
            self.backoff.succeeded()
            booted.wait(self.ping_s)  # at once when Asterisk is up; a booting one sends it when done
            while True:
                if lost.is_set():
                    raise ConnectionError("the manager connection was closed")
                if booted.is_set() and not self.connected:
                    self.connected = True
                    self.connections += 1
                    log.info("AMI connected to %s:%s", self.host, self.port)
                self._wake.wait(self.ping_s)
                if self._stopping.is_set():
                    break
                if not lost.is_set():
                    client.send_action(Action("Ping")).result(self.timeout_s)
            self._logoff(client)
        finally:
            self._client, self.connected = None, False
            client.disconnect()

    def _logoff(self, client: _Connection) -> None:
        try:
            client.send_action(Action("Logoff")).result(self.timeout_s)
        except (OSError, FutureTimeout):
            pass  # Asterisk already gone: closing the socket is all that is left

    def listen(self, client: Any) -> None:
        """Add listeners to a new manager connection before it connects (a subclass that needs more events)."""

    def _on_event(self, event: Event, source: Any = None) -> None:
        """On the library's reader thread: hand the call's caller to the loop."""
        info = CallerInfo(event.keys.get("Caller", ""), event.keys.get("CallerName", ""), event.keys.get("Channel", ""))
        uuid = event.keys.get("Uuid", "").lower()
        if self._loop is not None and uuid:
            try:
                self._loop.call_soon_threadsafe(self.remember, uuid, info)
            except RuntimeError:
                pass  # the loop closed while the bot shuts down

    # -- callers (on the event loop) -----------------------------------------------------------------
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
