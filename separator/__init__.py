"""Deep-clustering stem separation: split songs into drums, bass, guitar, vocals and other.

>>> from separator import Separator
>>> sep = Separator.from_pretrained()            # the model shipped in the package
>>> stems = sep.separate(audio, sample_rate)     # audio: (channels, samples) float32
>>> sorted(stems)
['bass', 'drums', 'guitar', 'other', 'vocals']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from separator.classes import CLASSES
from separator.errors import AudioLoadError, AudioWriteError, ModelLoadError, SeparationError, SeparatorError

if TYPE_CHECKING:
    from separator.separate import DEFAULT_MODEL, Separator

__version__ = "0.1.0"

__all__ = [
    "CLASSES",
    "DEFAULT_MODEL",
    "AudioLoadError",
    "AudioWriteError",
    "ModelLoadError",
    "SeparationError",
    "Separator",
    "SeparatorError",
    "__version__",
]

_LAZY = {"Separator", "DEFAULT_MODEL"}  # they import torch (seconds): only when first used, so `--help` stays fast


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from separator import separate

        return getattr(separate, name)
    raise AttributeError(f"module 'separator' has no attribute {name!r}")
