/* Specification: different handles may be used from different threads at once, and each
   computes exactly what it computes alone. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

enum { SAMPLE = 3 * 16 * 16, BATCH = 8, STEPS = 4, WEIGHTS = 16 * 3 * 3 * 3 };

typedef struct {
  int seed;
  float weights[WEIGHTS];
  sc_status status;
} run;

static void *train(void *arg) {
  run *r = arg;
  float x[BATCH * SAMPLE];
  int32_t labels[BATCH];
  for (int i = 0; i < BATCH * SAMPLE; i++) x[i] = (float)((i * (r->seed + 3)) % 23) / 23.0f - 0.5f;
  for (int i = 0; i < BATCH; i++) labels[i] = (i + r->seed) % 4;
  char spec[128];
  snprintf(spec, sizeof spec, "depth=8 variant=caffe input=3x16x16 classes=4 seed=%d", r->seed);
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  r->status = sc_model_create(spec, &m);
  if (r->status == SC_OK) r->status = sc_trainer_create(m, "lr=0.05", &t);
  for (int s = 0; s < STEPS && r->status == SC_OK; s++) r->status = sc_trainer_step(t, x, labels, BATCH, NULL, NULL);
  if (r->status == SC_OK) r->status = sc_model_param_get(m, "conv1.weight", r->weights, WEIGHTS);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
  return NULL;
}

/* A child forked after the library has used its threads (pool and a loader) can go on using
   it: it starts its own threads rather than waiting for the parent's, and gets the same result. */
static void fork_safety(void) {
  run parent = {.seed = 9};
  CHECK_OK(sc_set_num_threads(2));
  train(&parent);
  float x[4 * SAMPLE] = {0};
  int32_t y[4] = {0, 1, 2, 3};
  sc_dataset *d = NULL;
  sc_loader *l = NULL;
  CHECK_OK(sc_dataset_from_memory(x, y, 4, "3x16x16", &d));
  CHECK_OK(sc_loader_create(d, "batch=2 prefetch=1", &l));
  float bx[2 * SAMPLE];
  int32_t by[2];
  int64_t n;
  int32_t done;
  CHECK_OK(sc_loader_next(l, bx, by, 2, &n, &done));  /* its producer thread is running now */
  pid_t child = fork();
  if (child == 0) {
    alarm(60);  /* a deadlock ends the child instead of the test run */
    run again = {.seed = 9};
    train(&again);
    int ok = again.status == SC_OK && memcmp(again.weights, parent.weights, sizeof again.weights) == 0;
    ok = ok && sc_loader_next(l, bx, by, 2, &n, &done) == SC_OK && done == 1;
    sc_loader_destroy(l);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the forked child failed or hung (status %d)", status);
  sc_loader_destroy(l);
  sc_dataset_destroy(d);
}

int main(void) {
  enum { RUNS = 4 };
  run alone[RUNS], together[RUNS];
  for (int i = 0; i < RUNS; i++) {
    alone[i].seed = together[i].seed = i + 1;
    train(&alone[i]);
    CHECK(alone[i].status == SC_OK, "run %d alone: %s", i, sc_status_name(alone[i].status));
  }
  pthread_t threads[RUNS];
  for (int i = 0; i < RUNS; i++) pthread_create(&threads[i], NULL, train, &together[i]);
  for (int i = 0; i < RUNS; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < RUNS; i++) {
    CHECK(together[i].status == SC_OK, "run %d in parallel: %s", i, sc_status_name(together[i].status));
    CHECK(memcmp(alone[i].weights, together[i].weights, sizeof alone[i].weights) == 0,
          "run %d: weights trained in parallel with other handles differ from those trained alone", i);
  }
  fork_safety();
  return check_summary("test_threads");
}
