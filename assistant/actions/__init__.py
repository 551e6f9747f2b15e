"""Custom actions, one module per concern. rasa_sdk registers every submodule of this package."""

import logging as _logging

from common.logging import PiiMaskingFilter as _PiiMaskingFilter

# The action server configures its own logging; mask residents' numbers on whatever handlers it has.
for _handler in _logging.getLogger().handlers:
    _handler.addFilter(_PiiMaskingFilter())
_logging.getLogger().addFilter(_PiiMaskingFilter())
