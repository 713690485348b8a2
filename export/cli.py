"""`genpt export`: a run as a Hugging Face hub folder, loadable by plain `transformers`."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  genpt export --run runs/mini --output_dir hub/genpt-mini            # causal LM
  genpt export --run runs/sst2 --output_dir hub/genpt-mini-sst2       # sequence classifier
  genpt export --run runs/sst2 --output_dir hub/genpt-mini-sst2 --push_to_hub you/genpt-mini-sst2

The folder holds config.json, model.safetensors, the tokenizer (with GPT-1's special-token
template), generation_config.json (language models) and a README.md model card. Load it
with AutoModelForCausalLM / AutoModelForSequenceClassification and AutoTokenizer; no
trust_remote_code, nothing of genpt needed."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a run in Hugging Face hub format",
        description="Export a pretraining run (causal LM) or a fine-tuned run (sequence classifier) "
                    "as a folder that plain `transformers` loads.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="a `genpt pretrain` or `genpt finetune` run folder")
    parser.add_argument("--output_dir", required=True, metavar="DIR",
                        help="the hub folder to write: absent, empty, or an earlier export (outside --run)")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace an earlier genpt export in --output_dir")
    parser.add_argument("--allow_unfinished", action="store_true",
                        help="export a run that did not finish (its model card says so)")
    parser.add_argument("--push_to_hub", metavar="REPO_ID", help="also upload to this hub repository (needs a token and a network)")
    parser.add_argument("--private", action="store_true", help="create the hub repository as private")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.export.folder import export_run

    summary = export_run(args.run, args.output_dir, overwrite=args.overwrite_output_dir, allow_unfinished=args.allow_unfinished,
                         push_to_hub=args.push_to_hub, private=args.private)
    print(f"exported {args.run} as {summary['class']} to {summary['output_dir']}"
          + (f"; uploaded to {summary['url']}" if summary.get("url") else ""))
