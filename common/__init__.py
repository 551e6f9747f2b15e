"""Small pieces shared by every service: settings, PII-masking logs, Chinese number parsing.

Everything here must import on both environments (CPython 3.10 for Rasa, 3.11 for the rest)
and depend on nothing outside the standard library.
"""
