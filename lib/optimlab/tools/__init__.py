"""The course's tooling, kept apart from the teaching library: nothing here is taught, all of it serves the course.

- ``optimlab.tools.run_notebooks``  execute every notebook (papermill), time it, render pages or decks
- ``optimlab.tools.render``         HTML pages and reveal.js decks that work offline
- ``optimlab.tools.sweep``          a papermill grid over one notebook's parameters, collected into ``results.csv``
- ``optimlab.tools.sweep_plot``     the sweep's summary figure
- ``optimlab.tools.pretrain``       regenerate the transfer-learning backbone in ``data/``

Each is a module with a ``main`` and runs as ``python -m optimlab.tools.NAME``.
"""
