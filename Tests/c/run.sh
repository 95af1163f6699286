#!/usr/bin/env bash
# Runs the C test programs and closes with their combined "N passed, N failed" line. An argument
# NAME=VALUE sets that environment variable for the programs after it (e.g. SUPERCONV_ISA=portable
# to run them again on the portable kernels).
set -u
passed=0 failed=0 status=0
for t in "$@"; do
  if [[ $t == *=* ]]; then export "${t?}"; echo "== with $t"; continue; fi
  echo "== $t"
  out=$("$t" 2>&1) || status=1
  echo "$out"
  line=$(grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -n 1)
  if [ -z "$line" ]; then echo "$t printed no summary (crashed?)"; failed=$((failed + 1)); status=1; continue; fi
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
  passed=$((passed + p)) failed=$((failed + f))
done
echo "c-tests: $passed passed, $failed failed"
exit $status
