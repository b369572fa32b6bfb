"""The faces: the ``separator`` and ``plugin-host`` command lines and the separator's batch entry point.

They parse arguments, show progress, hand :mod:`batch_runner` the worker factories, and turn errors into
one-line messages and exit codes; everything below them raises typed exceptions.
"""
