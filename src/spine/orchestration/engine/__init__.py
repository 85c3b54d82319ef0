"""The engine: one run state, the step loop, and one module per step kind.

- :mod:`.state`: :class:`~.state.RunState` and its ``apply``, used live and to replay
  stored rows (:func:`~.state.replay`).
- :mod:`.loop`: the step loop (step budget, cancellation, retries, routing).
- :mod:`.attempt`: one attempt of one step, whatever its kind, into a result.
- :mod:`.kinds`: one module per step kind (lambda, pipeline, choice, wait, map,
  remote map), each given the run's :class:`~.services.Services`, never the runner.
- :mod:`.services`: those services, and the sleepers (waits and retry delays).
- :mod:`.journal`: a run's attempts written to the store as they finish.
- :mod:`.runs`: runs started, resumed and held under a lease (and map items).
- :mod:`.fork`: a new run from another's recorded steps before a step, then on as resumed.
- :mod:`.remote_items`: map items run in worker processes with the same step loop.
- :mod:`.settings`: a runner's settings, shared by these parts.
- :mod:`.alerting`: the alert a run sends when it ends.
"""
