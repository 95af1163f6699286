/* Specification of precise BN (sc_trainer_recompute_statistics, the trainer's and the range
   test's precise_bn keys): evaluations under recomputed statistics change nothing, and a
   recomputation on request changes the running statistics and nothing else. */
#include <math.h>
#include <stdlib.h>
#include "check.h"
#include "samples.h"

enum { SIDE = 8, SAMPLE = 3 * SIDE * SIDE, N = 64, BATCH = 16, CLASSES = 4, MAX_PARAMS = 64 };

static void make(float *x, int32_t *y, int n, uint64_t seed) { make_samples(x, y, n, SAMPLE, CLASSES, seed); }

/* Every named tensor of m, one after another. */
typedef struct { float *values[MAX_PARAMS]; int64_t sizes[MAX_PARAMS]; const char *names[MAX_PARAMS]; int64_t count; } tensors;

static tensors snapshot(sc_model *m) {
  tensors s = {0};
  CHECK_OK(sc_model_param_count(m, &s.count));
  for (int64_t i = 0; i < s.count && i < MAX_PARAMS; i++) {
    int64_t shape[4];
    CHECK_OK(sc_model_param_info(m, i, &s.names[i], NULL, shape));
    s.sizes[i] = shape[0] * shape[1] * shape[2] * shape[3];
    s.values[i] = malloc(sizeof(float) * (size_t)s.sizes[i]);
    CHECK_OK(sc_model_param_get(m, s.names[i], s.values[i], s.sizes[i]));
  }
  return s;
}

static int is_running_statistic(const char *name) {
  return strstr(name, "running_mean") != NULL || strstr(name, "running_var") != NULL;
}

/* Tensors of a and b that differ: running statistics and others counted apart. */
static void differences(tensors a, tensors b, int *statistics, int *others) {
  *statistics = *others = 0;
  for (int64_t i = 0; i < a.count; i++) {
    if (memcmp(a.values[i], b.values[i], sizeof(float) * (size_t)a.sizes[i]) != 0) {
      if (is_running_statistic(a.names[i])) (*statistics)++; else (*others)++;
    }
  }
}

static void release(tensors s) {
  for (int64_t i = 0; i < s.count; i++) free(s.values[i]);
}

int main(void) {
  float *x = malloc(sizeof(float) * N * SAMPLE), *huge = malloc(sizeof(float) * BATCH * SAMPLE);
  int32_t y[N];
  make(x, y, N, 1);
  for (int i = 0; i < BATCH * SAMPLE; i++) huge[i] = 3e38f;
  const char *model_spec = "depth=8 variant=caffe input=3x8x8 classes=4 seed=3";
  sc_model *m = NULL, *twin_model = NULL;
  sc_trainer *t = NULL, *twin = NULL;
  CHECK_OK(sc_model_create(model_spec, &m));
  CHECK_OK(sc_model_create(model_spec, &twin_model));
  CHECK_OK(sc_trainer_create(m, "lr=0.5 precise_bn=2", &t));
  CHECK_OK(sc_trainer_create(twin_model, "lr=0.5", &twin));
  /* Large steps, so that the running statistics lag the weights. */
  for (int b = 0; b < N / BATCH; b++) {
    CHECK_OK(sc_trainer_step(t, x + b * BATCH * SAMPLE, y + b * BATCH, BATCH, NULL, NULL));
    CHECK_OK(sc_trainer_step(twin, x + b * BATCH * SAMPLE, y + b * BATCH, BATCH, NULL, NULL));
  }

  /* A precise-BN evaluation changes no tensor and no counter. */
  tensors before = snapshot(m);
  float precise_loss = 0, running_loss = 0, loss = 0;
  int64_t iteration = 0;
  CHECK_OK(sc_trainer_evaluate(t, x, y, N, &precise_loss, NULL));
  CHECK_OK(sc_trainer_evaluate(twin, x, y, N, &running_loss, NULL));
  tensors after = snapshot(m);
  int statistics = 0, others = 0;
  differences(before, after, &statistics, &others);
  CHECK(statistics == 0 && others == 0, "a precise evaluation changed %d running statistics and %d other tensors",
        statistics, others);
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == N / BATCH, "iteration %lld", (long long)iteration);
  CHECK(precise_loss != running_loss, "precise and running statistics gave the same loss %g", precise_loss);
  release(after);

  /* ... nor the optimizer's state or the random state: the next step is the twin's, bit for bit. */
  CHECK_OK(sc_trainer_step(t, x, y, BATCH, NULL, NULL));
  CHECK_OK(sc_trainer_step(twin, x, y, BATCH, NULL, NULL));
  tensors stepped = snapshot(m), twin_stepped = snapshot(twin_model);
  differences(stepped, twin_stepped, &statistics, &others);
  CHECK(statistics == 0 && others == 0, "after a precise evaluation, a step differs from the twin's in %d + %d tensors",
        statistics, others);
  release(stepped);
  release(twin_stepped);
  release(before);

  /* On request, the running statistics are replaced by those of the given batches and nothing
     else changes: the twin recomputed from the last two batches stepped on evaluates as t does. */
  CHECK_OK(sc_trainer_step(t, x + 2 * BATCH * SAMPLE, y + 2 * BATCH, BATCH, NULL, NULL));
  CHECK_OK(sc_trainer_step(twin, x + 2 * BATCH * SAMPLE, y + 2 * BATCH, BATCH, NULL, NULL));
  CHECK_OK(sc_trainer_evaluate(t, x, y, N, &precise_loss, NULL));
  before = snapshot(twin_model);
  float *last_two = malloc(sizeof(float) * 2 * BATCH * SAMPLE);
  memcpy(last_two, x, sizeof(float) * BATCH * SAMPLE);
  memcpy(last_two + BATCH * SAMPLE, x + 2 * BATCH * SAMPLE, sizeof(float) * BATCH * SAMPLE);
  CHECK_OK(sc_trainer_recompute_statistics(twin, last_two, 2 * BATCH, BATCH));
  after = snapshot(twin_model);
  differences(before, after, &statistics, &others);
  CHECK(statistics > 0 && others == 0, "recomputing changed %d running statistics and %d other tensors", statistics, others);
  CHECK_OK(sc_trainer_evaluate(twin, x, y, N, &loss, NULL));
  CHECK(loss == precise_loss, "recomputed from the same batches: loss %g, the precise evaluation's %g", loss, precise_loss);
  release(before);

  /* Errors change nothing. */
  before = after;
  CHECK_FAILS(sc_trainer_recompute_statistics(twin, NULL, N, BATCH), SC_ERR_INVALID_ARGUMENT, "x");
  CHECK_FAILS(sc_trainer_recompute_statistics(twin, x, 0, BATCH), SC_ERR_INVALID_ARGUMENT, "n = 0");
  CHECK_FAILS(sc_trainer_recompute_statistics(twin, x, N, 0), SC_ERR_INVALID_ARGUMENT, "batch = 0");
  CHECK_FAILS(sc_trainer_recompute_statistics(twin, x, INT64_MAX, BATCH), SC_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(sc_trainer_recompute_statistics(NULL, x, N, BATCH), SC_ERR_INVALID_ARGUMENT, "t");
  CHECK_FAILS(sc_trainer_recompute_statistics(twin, huge, BATCH, BATCH), SC_ERR_NONFINITE, "not finite");
  after = snapshot(twin_model);
  differences(before, after, &statistics, &others);
  CHECK(statistics == 0 && others == 0, "failed calls changed %d + %d tensors", statistics, others);
  release(before);
  release(after);
  sc_trainer *bad = NULL;
  CHECK_FAILS(sc_trainer_create(m, "precise_bn=-1", &bad), SC_ERR_INVALID_ARGUMENT, "precise_bn");

  /* The range test's evaluations with precise BN; the trainer comes back as it was. */
  sc_range_test *r = NULL;
  CHECK_OK(sc_range_test_create(NULL, &r));
  before = snapshot(m);
  CHECK_OK(sc_trainer_range_test(t, x, y, N, x, y, 32, "max_lr=3 iterations=30 batch=16 eval_every=3 precise_bn=4", r));
  after = snapshot(m);
  differences(before, after, &statistics, &others);
  CHECK(statistics == 0 && others == 0, "the precise range test changed %d + %d tensors", statistics, others);
  float test_accuracy = NAN;
  CHECK_OK(sc_range_test_point(r, 3, NULL, NULL, NULL, NULL, &test_accuracy, NULL));
  CHECK(test_accuracy >= 0 && test_accuracy <= 1, "test accuracy %g at point 3", test_accuracy);
  CHECK_FAILS(sc_trainer_range_test(t, x, y, N, x, y, 32, "precise_bn=x", r), SC_ERR_INVALID_ARGUMENT, "precise_bn");
  release(before);
  release(after);

  sc_range_test_destroy(r);
  sc_trainer_destroy(t);
  sc_trainer_destroy(twin);
  sc_model_destroy(m);
  sc_model_destroy(twin_model);
  free(x);
  free(huge);
  free(last_two);
  return check_summary("test_precise_bn");
}
