"""optimlab: the shared library of the optimizers and schedulers course.

What a learner reads (each module one concept, readable in one sitting):

- ``optimlab.optim``          every ``torch.optim`` optimizer written from scratch, step for step equal to torch's,
                              plus Lion, Lookahead, schedule-free, LARS, LAMB; ``compiled=True``; ``optim.memory``
- ``optimlab.schedules``      schedules as pure functions of the step, one thin ``Scheduler``, torch's and Keras's
                              scheduler names, ``SWALR``
- ``optimlab.train``          ``fit``: forward, loss, backward, update (then the scheduler); ``evaluation_mode``
- ``optimlab.param_groups``   decay / no-decay, layer-wise and backbone/head param groups
- ``optimlab.averaging``      EMA and SWA of the weights, ``update_bn``
- ``optimlab.gradients``      clipping and accumulation helpers
- ``optimlab.lr_finder``, ``optimlab.effective_step``, ``optimlab.functions2d``, ``optimlab.fast``
                              the range test, the effective-step microscope, 2-D landscapes, the roofline
- ``optimlab.keras_compare``  Keras 3 (torch backend) beside torch: same gradients, measured conventions
- ``optimlab.distributed``    N processes on one machine: the launcher, DDP and ZeRO runs, large-batch rules
- ``optimlab.data``, ``optimlab.models``, ``optimlab.pretrained``, ``optimlab.transfer``, ``optimlab.experiments``,
  ``optimlab.gan``            data sets, models, the shipped backbone, fine-tuning, seeded runs, the GAN helper
- ``optimlab.plots``, ``optimlab.style``  figures, one colour per optimizer
- ``optimlab.runtime``, ``optimlab.validation``, ``optimlab.notebook``, ``optimlab.exercises``
                              device and seeds, the ``ValueError`` checks, notebook set-up and run budgets,
                              self-checked exercises

What serves the course and is not taught: ``optimlab.tools`` (running, rendering, sweeping and rerunning notebooks,
pretraining) and ``optimlab.paths`` (where ``data/``, ``notebooks/`` and ``build/`` are).

Importing the package prints, downloads and seeds nothing.
"""

__version__ = "0.2.0"
