"""The browser suite: JupyterLab and the slide decks in headless Chromium (see conftest.py)."""
