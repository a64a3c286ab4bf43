"""Flux's reconstruction core: the pure library behind the camera.

Extraction (``extraction``) measures every fluctuation element (``elements``) on a frame; the
intention (``intention``) and the rule (``rules``) turn them into target degrees clamped to what
the user's models reach (``ranges``, ``verdicts``); the generators (``generators``) reconstruct
the shot; the divergence (``divergence``) and the preview plan (``preview``) decide what is shown
first; ``evaluation``, ``selfcheck`` and the independent judges (``yardstick``) measure the
result. ``assets`` fetches and verifies the model files.

Everything in this package imports no Django and nothing of the apps around it: it works on numpy
arrays and plain dataclasses, so it runs from a command line or a notebook. The boundary is held
by ``tests/test_architecture.py``, which reads every module in this package.
"""
