"""GLUE metrics, computed offline by genpt (`genpt.metrics`), as an `evaluate` module.

    import evaluate
    from genpt.metrics import module_path
    glue = evaluate.load(module_path("glue"), "mrpc")
    glue.compute(predictions=[1, 0, 1], references=[1, 1, 1])   # {'f1': 0.8, 'accuracy': 0.666...}

Configurations are the GLUE task names (cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli);
each computes that task's metrics as GLUE defines them: Matthews correlation for CoLA, F1
and accuracy for MRPC and QQP, Pearson and Spearman correlations for STS-B, accuracy for the
rest. Predictions are class ids, or scores for STS-B.
"""

import datasets
import evaluate

from genpt.data.tasks import TASKS
from genpt.metrics import compute_metrics

GLUE_TASKS = [name for name, task in TASKS.items() if task.glue_name]


class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in GLUE_TASKS:
            raise KeyError(f"unknown GLUE task {self.config_name!r}; expected one of {', '.join(GLUE_TASKS)}")
        kind = "float64" if TASKS[self.config_name].is_regression else "int64"
        return evaluate.MetricInfo(
            description=__doc__, citation="Wang et al. 2018, GLUE", inputs_description="class ids (or STS-B scores)",
            features=datasets.Features({"predictions": datasets.Value(kind), "references": datasets.Value(kind)}))

    def _compute(self, predictions, references):
        return compute_metrics(TASKS[self.config_name].metrics, predictions, references)
