"""The cluster executors (``slurm``, ``sge``, ``pbs``): one shared core, one module per scheduler."""
