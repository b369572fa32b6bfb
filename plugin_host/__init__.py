"""Stem-aware pedalboard effect chains from presets, batch runs, and OSC/MIDI control."""
