"""Side-by-side benchmarks of rowgate against Better Auth on Node and raw psycopg,
and the bounded mixed-load test.

``python -m benchmarks`` (or ``benchmarks/run``) runs every pair and writes
``benchmarks/results/``; ``python -m benchmarks.load`` runs the mixed load. The
servers, the load generator and the direct-psycopg driver each run in their own
process, so no measurement shares an event loop with what it measures.
"""
