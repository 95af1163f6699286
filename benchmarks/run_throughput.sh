#!/usr/bin/env bash
# Training throughput and peak RSS of ResNet-20 and ResNet-56 (both variants), batch 128,
# 1 and 2 threads; each configuration in its own process. Prints a Markdown table.
# usage: benchmarks/run_throughput.sh PATH/TO/train_throughput [STEPS]
set -euo pipefail
bin=$1 steps=${2:-10}
echo "| network | variant | batch | threads | images/s | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for depth in 20 56; do
  for variant in caffe he-a; do
    for threads in 1 2; do
      read -r d v b t ips rss < <("$bin" "$depth" "$variant" 128 "$threads" "$steps" 2)
      echo "| ResNet-$d | $v | $b | $t | $ips | $rss |"
    done
  done
done
