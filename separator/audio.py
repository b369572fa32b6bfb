"""Audio files, read and written: kept importable as ``stembase.audio`` (``from stembase import audio``);
the code lives in the base, :mod:`stembase.audio`, and this name is that same module."""

import sys

from stembase import audio as _audio

sys.modules[__name__] = _audio
