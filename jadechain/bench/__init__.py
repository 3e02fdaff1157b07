"""The ``jadechain bench`` harness: workloads, load generators, runners, reports and plots.

A run has four parts, each in its own module:

* ``workloads`` builds and signs every transaction before the clock starts (signing is what a
  client does, not what the chain does, so it is never measured);
* ``load`` offers them to the nodes over gRPC (``/jadechain.Tx/Submit``) or HTTP batches, open
  loop at a target rate or closed loop with N clients;
* ``observe`` listens to a node's SSE stream (block + tx commit notifications), samples the node
  processes' CPU and RSS, and reads their per-stage timers;
* ``runner`` ties them together (``run_tps``, ``run_scale``, ``run_soak``) and ``report`` /
  ``plots`` turn the figures into JSON, Markdown and PNG.

``stats`` holds the arithmetic (percentiles, TPS from block commit times, ceiling fractions) so it
can be tested without a network. Nothing here passes or fails on wall-clock time.
"""
