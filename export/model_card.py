"""The model card of an export: hub metadata, how to use the model, how it was trained, its
results, intended use and limitations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genpt.config import GPTConfig
from genpt.data.tasks import Task

GLUE_DATASETS = {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"}


def model_card(run_dir: Path, values: dict[str, Any], config: GPTConfig, hf_model, task: Task | None,
               results: dict[str, Any] | None, unfinished: str | None = None):
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name="transformers",
        license="mit",
        language="en",
        tags=["genpt", "gpt-1", "openai-gpt" if not config.prenorm else "gpt2"],
        pipeline_tag="text-generation" if task is None else ("text-classification" if task.input_format != "multiple_choice" else None),
        datasets=_datasets(values, task),
        model_name=run_dir.name,
        eval_results=_eval_results(task, results) or None,
    )
    body = card_body(run_dir, values, config, hf_model, task, results)
    if unfinished:
        title, rest = body.split("\n", 1)
        body = f"{title}\n\n> **Unfinished:** {unfinished}. Exported with `--allow_unfinished`; its training did not complete.\n{rest}"
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + body)


def _datasets(values: dict[str, Any], task: Task | None) -> list[str] | None:
    if task is not None and task.name in GLUE_DATASETS:
        return ["nyu-mll/glue"]
    if task is not None and task.name == "story_cloze":
        return ["story_cloze"]
    return None


def _eval_results(task: Task | None, results: dict[str, Any] | None) -> list:
    from huggingface_hub import EvalResult

    if task is None or not results:
        return []
    return [
        EvalResult(task_type="text-classification", dataset_type="nyu-mll/glue" if task.name in GLUE_DATASETS else task.name,
                   dataset_name=task.name, dataset_config=task.name if task.name in GLUE_DATASETS else None,
                   dataset_split="validation", metric_type=name, metric_value=float(results[name]))
        for name in task.metrics if isinstance(results.get(name), (int, float))
    ]


def card_body(run_dir: Path, values: dict[str, Any], config: GPTConfig, hf_model, task: Task | None,
              results: dict[str, Any] | None) -> str:
    parameters = sum(p.numel() for p in hf_model.parameters())
    architecture = (f"GPT-1 (Radford et al. 2018), {'pre-LN (GPT-2 style)' if config.prenorm else 'post-LN as in the paper'}: "
                    f"{config.n_layer} layers, {config.n_embd} wide, {config.n_head} heads, context {config.n_positions}, "
                    f"vocabulary {config.vocab_size}; {parameters:,} parameters. Exported by genpt as "
                    f"`{type(hf_model).__name__}`.")
    sections = [f"# {run_dir.name}", "", architecture, ""]
    sections += _usage(task, type(hf_model).__name__)
    sections += ["## Training", ""]
    data = values.get("data") or {}
    if data.get("inputs"):
        sections += [f"Pretrained with `genpt pretrain` on {', '.join(map(str, data['inputs']))}"
                     + (" (Project Gutenberg headers and footers removed)" if data.get("strip_gutenberg") else "")
                     + ". Project Gutenberg books are in the public domain in the US; check your own country's law.", ""]
    finetune = values.get("finetune") or {}
    if finetune:
        sections += [f"Fine-tuned with `genpt finetune` on `{task.name}` from `{finetune.get('init')}`"
                     f" (GPT-1's input transformation `{task.input_format}`).", ""]
    sections += ["Resolved configuration:", "", "```yaml", _yaml(values).rstrip(), "```", ""]
    if results:
        sections += ["## Evaluation", "", "| metric | dev |", "|---|---:|"]
        sections += [f"| {k} | {v:.4f} |" for k, v in results.items() if isinstance(v, float)]
        sections += [""]
    sections += [
        "## Intended use and limitations", "",
        "A research and teaching model from the genpt pipeline. "
        + ("It is small and trained on little text, so its output is often ungrammatical or wrong; it has no "
           "safety tuning and reproduces the biases of 19th- and early-20th-century books. " if task is None else
           "It is a small model scored on one task's dev set; do not rely on it for decisions about people. ")
        + "Not for production use.", "",
    ]
    return "\n".join(sections)


def _usage(task: Task | None, class_name: str) -> list[str]:
    if task is None:
        return ["## How to use", "", "```python",
                "from transformers import pipeline",
                "generate = pipeline(\"text-generation\", model=\"PATH_OR_REPO\")",
                "print(generate(\"It was a dark and stormy night\", max_new_tokens=40)[0][\"generated_text\"])",
                "```", ""]
    common = ["```python", "import torch",
              "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
              "tokenizer = AutoTokenizer.from_pretrained(\"PATH_OR_REPO\")",
              "model = AutoModelForSequenceClassification.from_pretrained(\"PATH_OR_REPO\").eval()"]
    if task.input_format in ("single", "pair"):
        example = "classify(\"a gripping, funny film\")" if task.input_format == "single" else \
            "classify({\"text\": \"A man is walking.\", \"text_pair\": \"A person moves.\"})"
        return ["## How to use", "",
                "The tokenizer builds GPT-1's input (`start text extract`, or `start premise delim hypothesis extract` "
                "for pairs) and the classifier reads the extract token.", "", "```python",
                "from transformers import pipeline",
                "classify = pipeline(\"text-classification\", model=\"PATH_OR_REPO\")",
                f"print({example[:-1]}, truncation=True))", "```", ""]
    if task.input_format == "similarity":
        output = "scores (a regression: the similarity)" if task.is_regression else "logits; argmax gives the label"
        return ["## How to use", "",
                "GPT-1's similarity head runs both orderings, `start A delim B extract` and `start B delim A extract`, "
                "adds their final extract states, and applies the linear layer. That layer has no bias, so this is the "
                f"same as adding the two orderings' {output}:", "", *common,
                "a, b = \"A man is playing a guitar.\", \"A man plays an instrument.\"",
                "with torch.no_grad():",
                "    batch = tokenizer([a, b], [b, a], return_tensors=\"pt\", padding=True, truncation=True)",
                "    logits = model(**batch).logits.sum(dim=0)   # ordering (a, b) + ordering (b, a)",
                "print(logits.item() if model.config.num_labels == 1 else model.config.id2label[int(logits.argmax())])",
                "```", ""]
    return ["## How to use", "",
            "GPT-1's multiple-choice head scores each candidate `start context delim answer_k extract` with one logit, "
            "for any number k of candidates; a softmax across them gives their probabilities. For reading comprehension "
            "(RACE) the context is the article followed by the question; genpt cut the article's end (never the question "
            "or an option) when the whole did not fit, so shorten a long article the same way before scoring:", "", *common,
            "context = \"Karen was assigned a roommate. They got along well and went to a concert together.\"",
            "answers = [\"Karen became good friends with her roommate.\", \"Karen hated her roommate.\"]",
            "with torch.no_grad():",
            "    batch = tokenizer([context] * len(answers), answers, return_tensors=\"pt\", padding=True, truncation=True)",
            "    probabilities = model(**batch).logits.squeeze(-1).softmax(dim=0)",
            "print(answers[int(probabilities.argmax())])", "```", ""]


def _yaml(values: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(values, sort_keys=False)


