#!/usr/bin/env bash
# The readings of the paper's text, screened cheaply: the adding problem under the
# paper's protocol at T = 100, 3 trials (seeds 0-2), 300,000 sequences each.
# Each row is the paper's network as the body text describes it (--paper) plus
# one reading or a combination. `python analysis/readings_table.py results/readings_screen`
# prints the table. Usage: bash benchmarks/readings_screen.sh [row ...]
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A FLAGS=(
  [body]=""
  [caption_squash]="--squash caption"
  [out_gate_biases]="--out-gate-biases"
  [error_factor_2]="--error-factor 2"
  [output_reads_previous]="--output-reads previous"
  [plain_output_error]="--output-error plain"
  [plain_and_error_factor_2]="--output-error plain --error-factor 2"
  [plain_and_output_reads_previous]="--output-error plain --output-reads previous"
  [plain_and_out_gate_biases]="--output-error plain --out-gate-biases"
  [plain_and_caption_squash]="--output-error plain --squash caption"
)
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(body caption_squash out_gate_biases error_factor_2 output_reads_previous plain_output_error)
for row in "${rows[@]}"; do
  dir=results/readings_screen/$row
  python multiplication_problem.py --paper --task adding --seeds 0-2 --workers 1 --max-iters 300000 \
    ${FLAGS[$row]} --save-dir "$dir" --quiet --overwrite
done
