"""Past one machine: the inventory is cut into shards, workers inside each network segment
collect and judge their shard with the same engine, and their signed sub-packs merge into one
run folder that is identical to a single-process run (only run-level metadata and signatures
differ).

    coordinator: pipeline.prepare -> shards.split -> (files, or Celery queue auditor.<segment>)
    worker:      worker.run_shard  -> sub-pack: evidence/, shard.json, signed manifest
    coordinator: merge.merge       -> pipeline.finish (waivers, verdicts, reports, manifest)

`shards` holds the formats (a shard, the coordinator's plan), `worker` the worker's half,
`merge` the coordinator's, and `celery_app` the optional transport (`auditor[celery]`).
"""
