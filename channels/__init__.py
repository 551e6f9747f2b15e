"""Channels: one module per way a resident reaches the assistant (web/REST, voice upload, CLI, phone).

Each turns its protocol into the same call, ``on_new_message(UserMessage) -> list[BotMessage]``,
and back, as Rasa's own channels do.
"""
