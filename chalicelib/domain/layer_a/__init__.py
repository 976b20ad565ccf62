"""Layer A: the synchronous forbidden-pattern screen with PII, spam and profanity signals.

See docs/guardrails-layer-a.md for the normalisation steps and the pattern file format.
"""

from chalicelib.domain.layer_a.model import (
    CATEGORIES,
    SEVERITY_SCORE,
    LayerAResult,
    PatternMatch,
    Signal,
)
from chalicelib.domain.layer_a.screen import Screener, evaluate, screener

__all__ = [
    "CATEGORIES",
    "SEVERITY_SCORE",
    "LayerAResult",
    "PatternMatch",
    "Screener",
    "Signal",
    "evaluate",
    "screener",
]
