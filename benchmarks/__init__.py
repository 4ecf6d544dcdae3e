"""Benchmarks of sysvmdiag against OpenSSH on the local stack and the namespace lab (``make bench``).

Not timed tests: ``python -m benchmarks.run`` measures, then writes ``benchmarks/results/``
(results.md, results.json, results.png).
"""
