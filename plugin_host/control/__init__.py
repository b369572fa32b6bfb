"""Control beside the chains: the OSC server and its routes, the MIDI map, the DAW scripts and their client."""
