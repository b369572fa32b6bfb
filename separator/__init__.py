"""Deep-clustering stem separation: split songs into drums, bass, guitar, vocals and other.

>>> from separator import Separator
>>> sep = Separator.from_pretrained()            # the model shipped in the package
>>> stems = sep.separate(audio, sample_rate)     # audio: (channels, samples) float32
>>> sorted(stems)
['bass', 'drums', 'guitar', 'other', 'vocals']
"""

from separator.classes import CLASSES
from separator.errors import AudioLoadError, AudioWriteError, ModelLoadError, SeparationError, SeparatorError
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
