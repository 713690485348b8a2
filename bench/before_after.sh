#!/bin/bash
# Issue 15: the step and end-to-end pretraining benchmarks, before (the session's first commit) and after, one run.
set -x
cd /work/old && PYTHONPATH=/tmp/oldpkg /work/main/.venv/bin/python bench/model_step.py --configs mini --precisions fp32 bf16 --rounds 2
cd /work/main && /work/main/.venv/bin/python bench/model_step.py --configs mini --precisions fp32 bf16 --rounds 2
cd /work/main && /work/main/.venv/bin/python bench/pretrain.py 2>&1 | grep -v "%|"
cd /work/old && PYTHONPATH=/tmp/oldpkg /work/main/.venv/bin/python bench/pretrain.py 2>&1 | grep -v "%|"
