/* Specification of the range test and the estimator on our trainer: the sweep records what it
   should, and the trainer comes back exactly as it was. */
#include <math.h>
#include <stdlib.h>
#include "check.h"
#include "samples.h"

enum { SIDE = 8, SAMPLE = 3 * SIDE * SIDE, N = 64, NEVAL = 32, CLASSES = 4 };

static void make(float *x, int32_t *y, int n, uint64_t seed) { make_samples(x, y, n, SAMPLE, CLASSES, seed); }

int main(void) {
  float *x = malloc(sizeof(float) * N * SAMPLE), *xe = malloc(sizeof(float) * NEVAL * SAMPLE);
  int32_t y[N], ye[NEVAL];
  make(x, y, N, 1);
  make(xe, ye, NEVAL, 2);
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  sc_range_test *r = NULL;
  CHECK_OK(sc_model_create("depth=8 variant=caffe input=3x8x8 classes=4 seed=3", &m));
  CHECK_OK(sc_trainer_create(m, "lr=0.05", &t));
  CHECK_OK(sc_range_test_create(NULL, &r));
  CHECK_OK(sc_trainer_step(t, x, y, 16, NULL, NULL));  /* some optimizer state to preserve */

  int64_t count = 0, iteration = 0;
  CHECK_OK(sc_model_param_count(m, &count));
  float *before[64], *after = malloc(sizeof(float) * 100000);
  int64_t sizes[64];
  for (int64_t i = 0; i < count; i++) {
    const char *name;
    int64_t shape[4];
    CHECK_OK(sc_model_param_info(m, i, &name, NULL, shape));
    sizes[i] = shape[0] * shape[1] * shape[2] * shape[3];
    before[i] = malloc(sizeof(float) * sizes[i]);
    CHECK_OK(sc_model_param_get(m, name, before[i], sizes[i]));
  }

  CHECK_OK(sc_trainer_range_test(t, x, y, N, xe, ye, NEVAL,
                                 "sweep=linear min_lr=0.01 max_lr=20 iterations=60 batch=16 eval_every=5", r));
  int64_t points = 0;
  CHECK_OK(sc_range_test_count(r, &points));
  float lr0, lr1, test_acc, train_acc;
  CHECK_OK(sc_range_test_point(r, 0, &lr0, NULL, &train_acc, NULL, &test_acc, NULL));
  CHECK(fabsf(lr0 - 0.01f) < 1e-6f && !isnan(test_acc) && !isnan(train_acc), "first point lr %g acc %g", lr0, test_acc);
  CHECK_OK(sc_range_test_point(r, 1, &lr1, NULL, NULL, NULL, &test_acc, NULL));
  CHECK(lr1 > lr0 && isnan(test_acc), "second point: lr %g, test accuracy %g (evaluated only every 5)", lr1, test_acc);
  const char *verdict = NULL, *evidence = NULL;
  CHECK_OK(sc_range_test_verdict(r, &verdict, &evidence));
  double diverged = 0;
  CHECK_OK(sc_range_test_value(r, "diverged_at", &diverged));
  printf("trainer range test: %lld points (diverged at %g), verdict %s: %s\n", (long long)points, diverged, verdict, evidence);
  CHECK(points >= 10 && points <= 60, "%lld points", (long long)points);

  /* The trainer is as it was: weights, statistics, iteration. */
  for (int64_t i = 0; i < count; i++) {
    const char *name;
    CHECK_OK(sc_model_param_info(m, i, &name, NULL, NULL));
    CHECK_OK(sc_model_param_get(m, name, after, sizes[i]));
    CHECK(memcmp(before[i], after, sizeof(float) * sizes[i]) == 0, "%s changed by the range test", name);
    free(before[i]);
  }
  CHECK_OK(sc_trainer_iteration(t, &iteration));
  CHECK(iteration == 1, "iteration %lld after the range test", (long long)iteration);

  CHECK_FAILS(sc_trainer_range_test(t, x, y, 8, NULL, NULL, 0, "batch=16", r), SC_ERR_INVALID_ARGUMENT, "needs 16");
  CHECK_FAILS(sc_trainer_range_test(t, x, y, N, NULL, NULL, 5, "batch=16", r), SC_ERR_INVALID_ARGUMENT, "x_eval is NULL");
  CHECK_FAILS(sc_trainer_range_test(t, x, y, N, NULL, NULL, 0, "sweep=exp min_lr=0", r), SC_ERR_INVALID_ARGUMENT, "min_lr");
  CHECK_FAILS(sc_trainer_range_test(t, x, y, N, NULL, NULL, 0, "max_lr=0", r), SC_ERR_INVALID_ARGUMENT, "max_lr");
  CHECK_FAILS(sc_trainer_range_test(t, x, y, N, NULL, NULL, 0, "", NULL), SC_ERR_INVALID_ARGUMENT, "r is NULL");
  int64_t still = 0;
  CHECK_OK(sc_range_test_count(r, &still));
  CHECK(still == points, "a failed run changed the records");

  /* The estimator on the trainer: NaN until three snapshots, then a positive estimate. */
  float raw = 0, smoothed = 0;
  CHECK_FAILS(sc_trainer_lr_estimate(t, &raw, &smoothed), SC_ERR_STATE, "no estimator is attached");
  CHECK_OK(sc_trainer_attach_lr_estimator(t, "inc=2"));
  for (int s = 0; s < 3; s++) CHECK_OK(sc_trainer_step(t, x, y, 16, NULL, NULL));
  CHECK_OK(sc_trainer_lr_estimate(t, &raw, &smoothed));
  CHECK(isnan(raw) && isnan(smoothed), "estimate after two snapshots: %g", raw);
  CHECK_OK(sc_trainer_step(t, x, y, 16, NULL, NULL));
  CHECK_OK(sc_trainer_lr_estimate(t, &raw, &smoothed));
  printf("estimated learning rate after 4 steps at lr 0.05: raw %g, smoothed %g\n", raw, smoothed);
  CHECK(raw > 0 && isfinite(raw) && smoothed > 0, "estimate %g %g", raw, smoothed);
  CHECK_FAILS(sc_trainer_attach_lr_estimator(t, "inc=0"), SC_ERR_INVALID_ARGUMENT, "inc=0");

  free(after);
  free(x);
  free(xe);
  sc_range_test_destroy(r);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
  return check_summary("test_range_test");
}
