"""Speaking into the call: frames written at exactly one per 20 ms, stoppable at any frame.

Why pace ourselves: Asterisk forwards AudioSocket frames to the caller's RTP stream as they come;
a burst would be played out (or dropped) by the phone's jitter buffer and a prompt could no longer
be cut mid-word when the caller barges in. Frames are scheduled against the loop's clock from the
first frame, so a late wake-up is caught up on the next frame instead of drifting.
"""

from __future__ import annotations

import asyncio

from telephony import audiosocket

WRITE_BUFFER_LIMIT = 64 * 1024  # only wait for the socket when Asterisk stops reading


class Player:
    def __init__(self, writer: asyncio.StreamWriter, frame_s: float) -> None:
        self.writer, self.frame_s = writer, frame_s
        self.speaking = False
        self._stop = asyncio.Event()
        self.frames_sent = 0
        self.interruptible = True

    def reset(self, interruptible: bool = True) -> None:
        """A new prompt begins: forget the last interruption (goodbyes are not interruptible)."""
        self._stop.clear()
        self.interruptible = interruptible

    def stop(self) -> None:
        """The call is over: stop even a prompt that may not be interrupted."""
        self._stop.set()

    def interrupt(self) -> None:
        """Barge-in: stop at the next frame boundary (and skip the prompt's remaining sentences)."""
        if self.interruptible:
            self._stop.set()

    async def play(self, frames: list[bytes], start_at: float | None = None) -> tuple[int, float]:
        """Send ``frames`` paced from ``start_at`` (loop time; default now).

        Returns (frames sent, the loop time the next frame is due) so sentences chain without a gap;
        fewer frames are sent when interrupted or when the caller hung up.
        """
        loop = asyncio.get_running_loop()
        due = max(loop.time(), start_at or 0.0)
        self.speaking = True
        sent = 0
        try:
            for frame in frames:
                if self._stop.is_set() or self.writer.is_closing():
                    break
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if self._stop.is_set():
                        break
                self.writer.write(audiosocket.audio(frame))
                self.frames_sent += 1
                sent += 1
                due += self.frame_s
                if self.writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
                    await self.writer.drain()
        finally:
            self.speaking = False
        return sent, due

    @property
    def interrupted(self) -> bool:
        return self._stop.is_set()
