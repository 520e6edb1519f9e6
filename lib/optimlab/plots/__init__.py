"""Plot helpers. Each returns the matplotlib Axes (or Figure) it drew on and shows nothing itself.

Import from the submodules (``optimlab.plots.landscape``, ``optimlab.plots.curves``, ...). Colours come from
``optimlab.style.optimizer_color`` so an optimizer has one colour across the whole course.
"""
