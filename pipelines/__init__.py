"""Stages that compose the ``prac`` library: build-prac, find-ticket, bench.

``prac`` never imports this package; the command-line entry point (``prac.cli``) does.
"""
