"""Custom Rasa pipeline components."""
