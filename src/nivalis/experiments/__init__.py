"""Paper reproductions (seed tables, model comparisons, NAR benchmarks): protocols, their prose and figures.

Only `nivalis.cli` and `nivalis.report` import this package; library modules never do.
"""
