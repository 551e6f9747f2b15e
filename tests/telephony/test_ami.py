"""The AMI client against a small AMI server of our own: login, call events, reconnecting."""

from __future__ import annotations

import asyncio

from telephony.ami import AmiClient, parse_message


def test_messages_are_key_value_lines() -> None:
    assert parse_message("Event: UserEvent\r\nUserEvent: GovbotCall\r\nCaller: 13800138000\r\nChannel: PJSIP/a-1") == {
        "Event": "UserEvent", "UserEvent": "GovbotCall", "Caller": "13800138000", "Channel": "PJSIP/a-1"}


class FakeAmi:
    """Banner, login check, then whatever events the test pushes; ``drop()`` closes every session."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        login = parse_message((await reader.readuntil(b"\r\n\r\n")).decode())
        ok = login.get("Action") == "Login" and login.get("Secret") == self.secret
        writer.write(b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n" if ok
                     else b"Response: Error\r\nMessage: Authentication failed\r\n\r\n")
        self.logins += ok
        self.writers.append(writer)
        await reader.read()  # until the client or the test closes

    def call(self, uuid: str, caller: str) -> None:
        event = (f"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: GovbotCall\r\nUuid: {uuid}\r\n"
                 f"Caller: {caller}\r\nCallerName: \r\nChannel: PJSIP/phone-0001\r\n\r\n").encode()
        for writer in self.writers:
            writer.write(event)

    def drop(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()


async def wait_until(predicate, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_caller_numbers_arrive_and_the_client_reconnects_after_asterisk_restarts() -> None:
    fake = FakeAmi("s3cret")
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "govbot", "s3cret", reconnect_s=0.1, timeout_s=2.0)
    client.start()
    try:
        await wait_until(lambda: client.connected)
        waiting = asyncio.create_task(client.caller("ABC-1", timeout_s=2.0))
        await asyncio.sleep(0.05)
        fake.call("abc-1", "13800138000")
        info = await waiting
        assert info is not None and info.number == "13800138000" and info.channel == "PJSIP/phone-0001"
        assert await client.caller("unknown", timeout_s=0.1) is None

        fake.drop()  # Asterisk went away …
        await wait_until(lambda: fake.logins == 2)  # … and the client logged in again by itself
        await wait_until(lambda: client.connected)
        fake.call("abc-2", "13900000000")
        info = await client.caller("abc-2", timeout_s=2.0)
        assert info is not None and info.number == "13900000000"
    finally:
        await client.stop()
        server.close()


async def test_a_wrong_secret_is_not_a_connection() -> None:
    fake = FakeAmi("right")
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    client = AmiClient("127.0.0.1", server.sockets[0].getsockname()[1], "govbot", "wrong", 0.1, 2.0)
    client.start()
    try:
        await asyncio.sleep(0.5)
        assert not client.connected and fake.logins == 0
    finally:
        await client.stop()
        server.close()
