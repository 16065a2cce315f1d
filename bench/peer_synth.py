"""Loads the peer's data generator (../shared/anchors/synth.py) as a module."""

import importlib.util
import sys


def load_synth(path):
    spec = importlib.util.spec_from_file_location("peer_synth", path)
    synth = importlib.util.module_from_spec(spec)
    sys.modules["peer_synth"] = synth  # dataclasses look their module up here
    spec.loader.exec_module(synth)
    return synth
