"""One module per step kind. Each exposes ``run(workflow_name, step, ctx, services,
lineage)`` returning the attempt's result and, for a map, its item runs."""
