"""What every test shares: an off-screen matplotlib backend and the markers that select parts of the suite.

``pythonpath = ["tests"]`` in pyproject.toml makes the harness modules here (``optim_harness`` ...) importable;
a test module never imports from another test module.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no window: tests draw off-screen, and a missing display can never fail a test


def pytest_collection_modifyitems(config, items):
    """Every notebook run by nbval carries the ``notebook`` marker, so ``-m 'not notebook'`` leaves the fast tests."""
    import pytest

    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.slow)
