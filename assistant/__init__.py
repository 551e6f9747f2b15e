"""The Rasa project: domain, training data, rules/stories and the custom actions (Rasa environment)."""
