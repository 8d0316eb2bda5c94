"""This folder is where users put model files (weights are never committed). It is also
packaged as ``autofix.models`` so installs carry ``manifest.json``."""
