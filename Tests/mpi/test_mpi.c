/* Specification of data-parallel training on MPI (run as mpirun -np 2): with the all-reduce hook
   set to MPI_Allreduce and 64 samples per rank, both ranks hold bit-identical weights after every
   step, and after 20 steps the same weights (to 1e-5 relative) as one process that computes both
   halves' gradients through the open step, averages them and applies once per step; averaged
   running statistics are identical on both ranks; a rank whose step fails makes every rank refuse
   that step, instead of leaving them waiting; the sharded loader's ranks cover an epoch once. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include "tensors.h"

enum { PER_RANK = 64, SAMPLE = 3 * 16 * 16, CLASSES = 10, STEPS = 20 };
static const char *MODEL = "depth=8 variant=caffe input=3x16x16 classes=10 seed=21";
static int rank, world;

static sc_status allreduce(float *data, int64_t len, void *user) {
  (void)user;
  return MPI_Allreduce(MPI_IN_PLACE, data, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS ? SC_OK : SC_ERR_IO;
}

static float uniform(uint64_t *state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((*state >> 40) * (1.0 / 16777216.0));
}

/* The total batch of a step (both ranks' parts), the same on every rank. */
static void total_batch(int step, float *x, int32_t *labels) {
  uint64_t s = 1000 + (uint64_t)step;
  for (int i = 0; i < 2 * PER_RANK * SAMPLE; i++) x[i] = 2 * uniform(&s) - 1;
  for (int i = 0; i < 2 * PER_RANK; i++) labels[i] = (int32_t)(uniform(&s) * CLASSES);
}

static void make_trainer(sc_model **m, sc_trainer **t) {
  CHECK_OK(sc_model_create(MODEL, m));
  CHECK_OK(sc_trainer_create(*m, "momentum=0.9 weight_decay=0.0005", t));
  sc_schedule *s = NULL;
  CHECK_OK(sc_schedule_create("policy=onecycle base_lr=0.05 max_lr=0.8 stepsize=8 max_iter=20", &s));
  CHECK_OK(sc_trainer_set_schedule(*t, s));
  sc_schedule_destroy(s);
}

/* Whether the other rank holds the same bits. */
static int same_on_both_ranks(const float *mine, int64_t len) {
  float *theirs = malloc(sizeof(float) * len);
  MPI_Sendrecv(mine, (int)len, MPI_FLOAT, 1 - rank, 0, theirs, (int)len, MPI_FLOAT, 1 - rank, 0, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
  int same = memcmp(mine, theirs, sizeof(float) * len) == 0;
  free(theirs);
  return same;
}

static void data_parallel_equals_averaging(void) {
  float *x = malloc(sizeof(float) * 2 * PER_RANK * SAMPLE);
  int32_t labels[2 * PER_RANK];
  sc_model *m, *ref_m = NULL;
  sc_trainer *t, *ref = NULL;
  make_trainer(&m, &t);
  CHECK_OK(sc_trainer_set_allreduce(t, allreduce, NULL, world));
  if (rank == 0) make_trainer(&ref_m, &ref);
  float *g = NULL, *other = NULL;
  int64_t len = 0;
  if (rank == 0) {
    CHECK_OK(sc_trainer_gradients(ref, &g, &len));
    other = malloc(sizeof(float) * len);
  }
  int identical_steps = 0;
  for (int step = 0; step < STEPS; step++) {
    total_batch(step, x, labels);
    CHECK_OK(sc_trainer_step(t, x + rank * PER_RANK * SAMPLE, labels + rank * PER_RANK, PER_RANK, NULL, NULL));
    int64_t n;
    float *w = tensors(m, "running_", 0, &n);
    identical_steps += same_on_both_ranks(w, n);
    free(w);
    if (rank == 0) {
      /* One process: both halves through the open step, their mean applied once. */
      CHECK_OK(sc_trainer_compute_gradients(ref, x + PER_RANK * SAMPLE, labels + PER_RANK, PER_RANK, NULL, NULL));
      memcpy(other, g, sizeof(float) * len);
      CHECK_OK(sc_trainer_compute_gradients(ref, x, labels, PER_RANK, NULL, NULL));
      for (int64_t i = 0; i < len; i++) g[i] = (g[i] + other[i]) / 2;
      CHECK_OK(sc_trainer_apply_gradients(ref));
    }
  }
  CHECK(identical_steps == STEPS, "rank %d: the ranks' weights were bit-identical after %d of %d steps", rank,
        identical_steps, STEPS);
  if (rank == 0) {
    int64_t n;
    float *w = tensors(m, "running_", 0, &n), *r = tensors(ref_m, "running_", 0, &n);
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < n; i++) {
      diff += ((double)w[i] - r[i]) * ((double)w[i] - r[i]);
      norm += (double)r[i] * r[i];
    }
    printf("after %d steps: |w_mpi - w_one_process| / |w_one_process| = %.3g (%s)\n", STEPS, sqrt(diff / norm),
           memcmp(w, r, sizeof(float) * n) == 0 ? "bit-identical" : "not bit-identical");
    CHECK(sqrt(diff / norm) <= 1e-5, "after %d steps the weights differ from one process's by %.3g relative", STEPS,
          sqrt(diff / norm));
    free(w);
    free(r);
    free(other);
  }

  /* Each rank folded its own batches into its running statistics; averaged, they agree. */
  int64_t n;
  float *stats = tensors(m, "running_", 1, &n);
  int differed = !same_on_both_ranks(stats, n);
  free(stats);
  CHECK_OK(sc_trainer_average_statistics(t));
  stats = tensors(m, "running_", 1, &n);
  CHECK(differed && same_on_both_ranks(stats, n), "rank %d: running statistics differed before averaging: %d; "
        "agree after: no", rank, differed);
  free(stats);

  /* A failing rank: rank 1's batch holds NaN, then rank 0's labels are out of range, then rank
     1's activations overflow. Every rank refuses the step (nothing changes anywhere) and the
     job goes on. */
  int64_t before_len, iteration = -1;
  float *before = tensors(m, "", 1, &before_len);
  total_batch(STEPS, x, labels);
  if (rank == 1) x[PER_RANK * SAMPLE + 5] = NAN;
  sc_status rc = sc_trainer_step(t, x + rank * PER_RANK * SAMPLE, labels + rank * PER_RANK, PER_RANK, NULL, NULL);
  CHECK(rc == SC_ERR_NONFINITE, "rank %d: a step with NaN on rank 1 returned %s: %s", rank, sc_status_name(rc),
        sc_last_error());
  total_batch(STEPS, x, labels);
  if (rank == 0) labels[3] = CLASSES;
  rc = sc_trainer_step(t, x + rank * PER_RANK * SAMPLE, labels + rank * PER_RANK, PER_RANK, NULL, NULL);
  CHECK(rc == (rank == 0 ? SC_ERR_INVALID_ARGUMENT : SC_ERR_NONFINITE), "rank %d: a step with a bad label on rank 0 "
        "returned %s: %s", rank, sc_status_name(rc), sc_last_error());
  /* Rank 1's activations overflow float in its BatchNorms' variance while its loss stays finite:
     a refusal only rank 1 could see, which must still stop both. */
  total_batch(STEPS, x, labels);
  if (rank == 1)
    for (int i = 0; i < PER_RANK * SAMPLE; i++) x[PER_RANK * SAMPLE + i] *= 1e20f;
  rc = sc_trainer_step(t, x + rank * PER_RANK * SAMPLE, labels + rank * PER_RANK, PER_RANK, NULL, NULL);
  CHECK(rc == SC_ERR_NONFINITE, "rank %d: a step whose BatchNorm statistics overflow on rank 1 returned %s: %s", rank,
        sc_status_name(rc), sc_last_error());
  float *after = tensors(m, "", 1, &before_len);
  CHECK(memcmp(before, after, sizeof(float) * before_len) == 0, "rank %d: a refused step changed the model", rank);
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == STEPS, "rank %d: refused steps moved the iteration to %lld", rank, (long long)iteration);
  total_batch(STEPS, x, labels);
  CHECK_OK(sc_trainer_step(t, x + rank * PER_RANK * SAMPLE, labels + rank * PER_RANK, PER_RANK, NULL, NULL));
  free(after);
  after = tensors(m, "running_", 0, &n);
  CHECK(same_on_both_ranks(after, n), "rank %d: after refused steps the ranks trained on apart", rank);
  free(after);
  free(before);
  free(x);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
  if (rank == 0) {
    sc_trainer_destroy(ref);
    sc_model_destroy(ref_m);
  }
}

/* The two ranks' shards of an epoch, put together, hold every sample once. */
static void shards_cover_the_epoch(void) {
  enum { COUNT = 250 };
  static float x[COUNT * 16];
  int32_t ids[COUNT];
  for (int i = 0; i < COUNT; i++) ids[i] = i;
  sc_dataset *d = NULL;
  sc_loader *l = NULL;
  CHECK_OK(sc_dataset_from_memory(x, ids, COUNT, "1x4x4", &d));
  char spec[64];
  snprintf(spec, sizeof spec, "batch=16 seed=8 shard=%d/%d", rank, world);
  CHECK_OK(sc_loader_create(d, spec, &l));
  int32_t mine[COUNT], all[2 * COUNT], labels[16];
  float batch[16 * 16];
  int64_t got = 0, n = 0;
  int32_t done = 0;
  while (!done && sc_loader_next(l, batch, labels, 16, &n, &done) == SC_OK) {
    memcpy(mine + got, labels, sizeof(int32_t) * n);
    got += n;
  }
  CHECK(got == COUNT / 2, "rank %d read %lld samples of %d", rank, (long long)got, COUNT);
  MPI_Allgather(mine, COUNT / 2, MPI_INT32_T, all, COUNT / 2, MPI_INT32_T, MPI_COMM_WORLD);
  int seen[COUNT] = {0}, once = 1;
  for (int i = 0; i < COUNT; i++) seen[all[i]]++;
  for (int i = 0; i < COUNT; i++) once &= seen[i] == 1;
  CHECK(once, "rank %d: the shards do not cover the epoch exactly once", rank);
  sc_loader_destroy(l);
  sc_dataset_destroy(d);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 2) {
    if (rank == 0) fprintf(stderr, "run with mpirun -np 2\n");
    MPI_Finalize();
    return 2;
  }
  CHECK_OK(sc_set_num_threads(1));
  data_parallel_equals_averaging();
  shards_cover_the_epoch();
  /* One summary for the job: rank 0 reports both ranks' counts. */
  int counts[2] = {check_passed, check_failed};
  MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  check_passed = counts[0];
  check_failed = counts[1];
  int status = rank == 0 ? check_summary("test_mpi") : check_failed != 0;
  MPI_Finalize();
  return status;
}
