"""genpt's metrics as local `evaluate` modules: `evaluate.load(genpt.metrics.module_path("glue"), "mrpc")`
works offline, and a `transformers` Trainer can use them in `compute_metrics`. Each folder
holds one module script, named as the folder, as `evaluate` wants."""
