#!/usr/bin/env bash
# Issue 4 ablations: which defaults make every seed of 0-29 reach test MSE < 0.03
# within 8000 iterations on the reference task. Each line is one table row.
# Usage: bash benchmarks/ablations_reference.sh [name ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
S="--seeds 0-29 --max-iters 8000 --quiet"
declare -A RUNS=(
  [reference]="--hidden 8 --forget-bias 1 --init-scale 0.3536"
  [forget_bias_2]="--hidden 8 --forget-bias 2 --init-scale 0.3536"
  [forget_bias_3]="--hidden 8 --forget-bias 3 --init-scale 0.3536"
  [init_0.1]="--hidden 8 --forget-bias 1 --init-scale 0.1"
  [hidden_16]="--hidden 16 --forget-bias 1 --init-scale 0.3536"
  [lr_0.01]="--hidden 8 --forget-bias 1 --lr 0.01 --init-scale 0.3536"
  [fb3_hidden_16]="--hidden 16 --forget-bias 3 --init-scale 0.3536"
  [fb3_lr_0.01]="--hidden 8 --forget-bias 3 --lr 0.01 --init-scale 0.3536"
  [fb3_init_0.1]="--hidden 8 --forget-bias 3 --init-scale 0.1"
  [defaults]=""
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(reference forget_bias_2 forget_bias_3 init_0.1 hidden_16 lr_0.01 fb3_hidden_16 fb3_lr_0.01 fb3_init_0.1 defaults)
for n in "${names[@]}"; do
  echo "== $n: python multiplication_problem.py $S ${RUNS[$n]} --save-dir results/ablations/$n"
  python multiplication_problem.py $S ${RUNS[$n]} --save-dir "results/ablations/$n" --workers 1 --overwrite
  python visualize_multiplication_problem.py $S ${RUNS[$n]} --run-dir "results/ablations/$n" --out-dir "results/ablations/$n"
done
