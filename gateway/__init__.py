"""The gateway: one sanic app in front of Rasa that hosts the channels, the knowledge-base API
and the staff console."""
