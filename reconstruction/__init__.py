"""Flux's reconstruction app: the user's fluctuation models, their training and the shooting
preferences, as Django sees them (rows, services, the worker's tasks, pages).

The pure library the app uses lives in ``reconstruction.core``: no Django, numpy arrays and plain
dataclasses, so it runs from a command line or a notebook (``tests/test_architecture.py`` holds
it to that).
"""
