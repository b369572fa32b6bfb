"""Audio files, read and written: kept importable under the separator's name (``from separator import audio``);
the code lives in the base, :mod:`stembase.audio`, and this name is that same module."""

import sys

from stembase import audio as _audio

sys.modules[__name__] = _audio
