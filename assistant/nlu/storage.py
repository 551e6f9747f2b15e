"""Persisting a custom component's fitted objects in Rasa's model storage, one way for every component.

Why joblib in a file per component: the fitted scikit-learn / crfsuite objects are what the component
needs at load time and nothing else; a component trained without the data it needs (no intents, no entity
annotations) has no file, and loads as "nothing to predict with" instead of failing the whole model.
"""

from __future__ import annotations

from typing import Any

import joblib
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage


def persist(model_storage: ModelStorage, resource: Resource, filename: str, model: Any) -> None:
    with model_storage.write_to(resource) as directory:
        joblib.dump(model, directory / filename)


def restore(model_storage: ModelStorage, resource: Resource, filename: str) -> Any | None:
    """The persisted objects, or None when the component was trained without data (nothing was written)."""
    try:
        with model_storage.read_from(resource) as directory:
            return joblib.load(directory / filename)
    except (ValueError, FileNotFoundError):
        return None
