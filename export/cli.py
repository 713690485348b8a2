"""`genpt export`: a run as a Hugging Face hub folder, loadable by plain `transformers`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from genpt.options import add_options, config_from_cli, new_command

EPILOG = """examples:
  genpt export --run runs/mini --output_dir hub/genpt-mini            # causal LM
  genpt export --run runs/sst2 --output_dir hub/genpt-mini-sst2       # sequence classifier
  genpt export --run runs/sst2 --output_dir hub/genpt-mini-sst2 --push_to_hub you/genpt-mini-sst2

The folder holds config.json, model.safetensors, the tokenizer (with GPT-1's special-token
template), generation_config.json (language models) and a README.md model card. Load it
with AutoModelForCausalLM / AutoModelForSequenceClassification and AutoTokenizer; no
trust_remote_code, nothing of genpt needed."""


@dataclass(kw_only=True)
class ExportOptions:
    run: str  # a `genpt pretrain` or `genpt finetune` run folder
    output_dir: str  # the hub folder to write: absent, empty, or an earlier export (outside --run)
    overwrite_output_dir: bool = False  # replace an earlier genpt export in --output_dir
    allow_unfinished: bool = False  # export a run that did not finish (its model card says so)
    push_to_hub: str | None = None  # also upload to this hub repository (needs a token and a network)
    private: bool = False  # create the hub repository as private


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "export", help="export a run in Hugging Face hub format", epilog=EPILOG,
                         description="Export a pretraining run (causal LM) or a fine-tuned run (sequence classifier) "
                                     "as a folder that plain `transformers` loads.")
    add_options(parser, ExportOptions, required=("run", "output_dir"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.export.folder import export_run

    options = config_from_cli(ExportOptions, args)
    summary = export_run(options.run, options.output_dir, overwrite=options.overwrite_output_dir,
                         allow_unfinished=options.allow_unfinished, push_to_hub=options.push_to_hub, private=options.private)
    print(f"exported {options.run} as {summary['class']} to {summary['output_dir']}"
          + (f"; uploaded to {summary['url']}" if summary.get("url") else ""))
