"""Runtime of the scripts: strategies, input pipelines, callbacks, jobs."""
