"""The knowledge base: a staff-curated policy FAQ that answers colloquial Mandarin questions.

The path of a question: ``api`` (or the CLI) → ``search.SearchService`` → the current immutable
``index.Index`` (dense embeddings from ``embedders`` + a character n-gram keyword leg) →
``calibration`` turns scores into answer / clarify / none → ``unanswered`` logs what the FAQ lacks.
Curators change entries through ``curation`` (every change versioned in ``store``); the change
bumps a revision counter that every process polls, so live indexes refresh without a restart.
"""
