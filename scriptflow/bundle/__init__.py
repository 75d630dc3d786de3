"""``scriptflow bundle``: scriptflow and its runtime requirements as one ``scriptflow.pyz`` file.

Built from the distributions installed next to the running scriptflow (no pip,
no network), for machines that have a Python but no way to install packages.
``requirements`` reads requirement strings and their markers, ``contents``
finds every file to include, ``archive`` writes the zip application.
"""
