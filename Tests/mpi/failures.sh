#!/usr/bin/env bash
# Specification of a data-parallel job's failure behaviour, on the C example train_mpi under
# mpirun -np 2: a diverging run (refused steps) ends with a message and a non-zero exit; a rank
# killed with SIGKILL mid-epoch ends the whole job with a non-zero exit status instead of leaving
# the other rank waiting (a job still running 30 s after the kill counts as hung); and the job
# resumed from its last checkpoint ends with the same weights as an uninterrupted run (the
# example's checksum of every named tensor).
# Usage: failures.sh PATH/TO/train_mpi [mpirun options...]
set -u
program=$1; shift
mpirun=(mpirun "$@" -np 2)
work=$(mktemp -d)
args=(--depth 8 --train 1024 --test 1000 --batch 32 --epochs 3 --threads 1 --print-every 4 --max-lr 0.3)
passed=0 failed=0
check() {  # check CONDITION-STATUS MESSAGE
  if [ "$1" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $2"; fi
}

timeout 120 "${mpirun[@]}" "$program" "${args[@]}" --max-lr 1e5 --checkpoint "$work/diverged.h5" > "$work/diverged.log" 2>&1
status=$?
echo "a diverging run: mpirun exited with status $status"
[ "$status" -ne 0 ] && [ "$status" -ne 124 ]; check $? "a diverging job exited with status $status (124: it hung)"
grep -q "of 2: sc_trainer_train_epoch failed: SC_ERR_NONFINITE: .*; ending the job" "$work/diverged.log"
check $? "a diverging job did not say why it ended: $(tail -3 "$work/diverged.log")"

"${mpirun[@]}" "$program" "${args[@]}" --checkpoint "$work/whole.h5" > "$work/whole.log" 2>&1
check $? "the uninterrupted run failed: $(tail -5 "$work/whole.log")"

"${mpirun[@]}" "$program" "${args[@]}" --checkpoint "$work/killed.h5" > "$work/killed.log" 2>&1 &
job=$!
# Epoch 1 is iterations 1-16; rank 0 reports iteration 20 in the middle of epoch 2.
for _ in $(seq 600); do grep -q "^iteration    20 " "$work/killed.log" && break; sleep 0.1; done
victim=$(sed -n 's/^rank 1 of 2: pid \([0-9]*\).*/\1/p' "$work/killed.log")
kill -9 "$victim"
for _ in $(seq 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then
  check 1 "mpirun still runs 30 s after rank 1 (pid $victim) was killed"
  kill "$job"
fi
wait "$job"
status=$?
echo "rank 1 (pid $victim) killed mid-epoch 2: mpirun exited with status $status"
[ "$status" -ne 0 ]; check $? "mpirun exited with status 0 after a rank was killed"
grep -q "^epoch 3 " "$work/killed.log"; [ $? -ne 0 ]; check $? "the killed job went on to the end"

"${mpirun[@]}" "$program" "${args[@]}" --checkpoint "$work/killed.h5" --resume 1 > "$work/resumed.log" 2>&1
check $? "the resumed run failed: $(tail -5 "$work/resumed.log")"
grep -q "^resumed from .* at iteration 16$" "$work/resumed.log"; check $? "the run did not resume from epoch 1's checkpoint"
whole=$(grep "^weights checksum" "$work/whole.log"); resumed=$(grep "^weights checksum" "$work/resumed.log")
echo "uninterrupted: ${whole:-none}; resumed: ${resumed:-none}"
[ -n "$whole" ] && [ "$whole" = "$resumed" ]; check $? "the resumed run ends with other weights than the uninterrupted one"

rm -rf "$work"
echo "mpi_failures: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
