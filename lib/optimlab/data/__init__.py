"""Small datasets the course uses, generated in code or bundled with a package: nothing is downloaded.

Import from the submodules (``optimlab.data.digits``, ``optimlab.data.regression``, ...).
"""
