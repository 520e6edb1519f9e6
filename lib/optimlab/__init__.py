"""optimlab: the shared library of the optimizers and schedulers course.

Subpackages and modules (each one concept, each readable in one sitting):

- ``optimlab.optim``      optimizers written from scratch, step-for-step equal to ``torch.optim``
- ``optimlab.train``      ``fit``: forward, loss, backward, update (then the scheduler)
- ``optimlab.runtime``    device choice and seeding
- ``optimlab.validation`` the checks behind every ``ValueError`` the course raises
- ``optimlab.exercises``  self-checks for the notebooks' exercises

Importing the package prints, downloads and seeds nothing.
"""

__version__ = "0.1.0"
