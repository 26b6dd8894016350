"""``edgeopt compare``: sweeps of instances x solvers x seeds and what is made of them.

``sweep`` runs the tasks (worker processes or Dask; resumable) and fills the reference columns;
``reference`` reads and writes .solu files; ``tables``, ``plots`` and ``html`` turn the table into the
terminal summary, Markdown, PNG plots and one HTML report. The function ``edgeopt.compare`` is
``sweep.compare``; pandas and matplotlib are imported only when a sweep or a report runs.
"""
