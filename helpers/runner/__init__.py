"""The batch side of advlab: the study catalog, the papermill runner, HTML reports, the index, benchmarks.

Nothing here imports a study's internals: the runner learns about a study from its notebook, its
presets and the ``metrics.json`` / ``run.json`` files a run writes.
"""
