/* Specification: different handles may be used from different threads at once, and each
   computes exactly what it computes alone, and saves, loads and records its files as it would
   alone; the thread count does not change results; a trainer may be interrupted from another
   thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
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

/* Files from different threads at once: each thread saves, loads and records its own trainer's
   files. libhdf5 as Debian builds it is not thread-safe, and a probe child forked while another
   thread was inside it hung (each such run lost one load to the probe's timeout). */
typedef struct {
  int id;
  int failures;
  char message[512];
} file_worker;

static void *save_load_record(void *arg) {
  file_worker *w = arg;
  char checkpoint[128], record[128];
  snprintf(checkpoint, sizeof checkpoint, "/tmp/superconv-threads-%d-%d.h5", (int)getpid(), w->id);
  snprintf(record, sizeof record, "/tmp/superconv-threads-%d-%d-run.h5", (int)getpid(), w->id);
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  if (sc_model_create("depth=8 input=1x8x8 classes=3", &m) != SC_OK || sc_trainer_create(m, "optimizer=adam", &t) != SC_OK) {
    w->failures++;
    return NULL;
  }
  for (int i = 0; i < 60; i++) {
    const char *call = NULL;
    if (sc_checkpoint_save(t, checkpoint) != SC_OK) call = "save";
    else if (sc_checkpoint_load(t, checkpoint) != SC_OK) call = "load";
    else if (sc_trainer_record(t, record, i ? "append=1" : "") != SC_OK || sc_trainer_record(t, NULL, NULL) != SC_OK) call = "record";
    if (call && w->failures++ == 0) snprintf(w->message, sizeof w->message, "%s: %s", call, sc_last_error());
  }
  sc_trainer_destroy(t);
  sc_model_destroy(m);
  unlink(checkpoint);
  unlink(record);
  return NULL;
}

static void files_from_several_threads(void) {
  enum { WORKERS = 3 };
  file_worker workers[WORKERS];
  pthread_t threads[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    workers[i] = (file_worker){.id = i};
    pthread_create(&threads[i], NULL, save_load_record, &workers[i]);
  }
  for (int i = 0; i < WORKERS; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < WORKERS; i++)
    CHECK(workers[i].failures == 0, "thread %d: %d of 60 save/load/record rounds failed, first %s", i, workers[i].failures,
          workers[i].message);
}

/* sc_trainer_interrupt from another thread while sc_trainer_train_epoch runs: the epoch stops
   after a step with SC_INTERRUPTED, the steps taken stay applied, and the next call finishes
   the epoch. */
typedef struct {
  sc_trainer *trainer;
  int reached;  /* set by the progress callback once a few steps are done */
  pthread_mutex_t lock;
  pthread_cond_t cond;
} interrupt_case;

static void on_step(void *user, int64_t iteration, float lr, float loss, float accuracy) {
  (void)lr, (void)loss, (void)accuracy;
  interrupt_case *c = user;
  if (iteration == 3) {
    pthread_mutex_lock(&c->lock);
    c->reached = 1;
    pthread_cond_signal(&c->cond);
    /* Holding the training thread here until the interrupt is in makes the stopping step
       deterministic: the request is seen right after this step. */
    while (c->reached != 2) pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
  }
}

static void *interrupter(void *arg) {
  interrupt_case *c = arg;
  pthread_mutex_lock(&c->lock);
  while (c->reached != 1) pthread_cond_wait(&c->cond, &c->lock);
  CHECK_OK(sc_trainer_interrupt(c->trainer));
  c->reached = 2;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

static void interrupt_from_another_thread(void) {
  enum { N = 80 };
  static float x[N * SAMPLE];
  static int32_t labels[N];
  for (int i = 0; i < N * SAMPLE; i++) x[i] = (float)(i % 17) / 17.0f;
  for (int i = 0; i < N; i++) labels[i] = i % 4;
  sc_dataset *d = NULL;
  sc_loader *l = NULL;
  sc_model *m = NULL;
  interrupt_case c = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  CHECK_OK(sc_dataset_from_memory(x, labels, N, "3x16x16", &d));
  CHECK_OK(sc_loader_create(d, "batch=8 seed=3", &l));
  CHECK_OK(sc_model_create("depth=8 input=3x16x16 classes=4", &m));
  CHECK_OK(sc_trainer_create(m, "lr=0.05", &c.trainer));
  CHECK_OK(sc_trainer_set_progress(c.trainer, on_step, &c));
  pthread_t thread;
  pthread_create(&thread, NULL, interrupter, &c);
  CHECK_FAILS(sc_trainer_train_epoch(c.trainer, l, NULL, NULL), SC_INTERRUPTED, "interrupted at iteration 3");
  pthread_join(thread, NULL);
  int64_t iteration = 0;
  CHECK_OK(sc_trainer_iteration(c.trainer, &iteration));
  CHECK(iteration == 3, "the interrupted epoch kept %lld steps, expected 3", (long long)iteration);
  CHECK_OK(sc_trainer_train_epoch(c.trainer, l, NULL, NULL));  /* the request is spent */
  CHECK_OK(sc_trainer_iteration(c.trainer, &iteration));
  CHECK(iteration == N / 8, "after finishing the epoch: %lld steps, expected %d", (long long)iteration, N / 8);
  CHECK_FAILS(sc_trainer_interrupt(NULL), SC_ERR_INVALID_ARGUMENT, "t");
  sc_trainer_destroy(c.trainer);
  sc_model_destroy(m);
  sc_loader_destroy(l);
  sc_dataset_destroy(d);
}

/* Workers take pieces of each parallel region as they become free, and every sum over the batch
   is split the same way whatever the thread count: 1, 2 and 3 threads train the same weights. */
static void thread_count_does_not_change_results(void) {
  int configured = sc_get_num_threads();
  run reference = {.seed = 7};
  CHECK_OK(sc_set_num_threads(1));
  train(&reference);
  CHECK(reference.status == SC_OK, "run at 1 thread: %s", sc_status_name(reference.status));
  for (int threads = 2; threads <= 3; threads++) {
    run other = {.seed = 7};
    CHECK_OK(sc_set_num_threads(threads));
    train(&other);
    CHECK(other.status == SC_OK, "run at %d threads: %s", threads, sc_status_name(other.status));
    CHECK(memcmp(reference.weights, other.weights, sizeof reference.weights) == 0,
          "weights trained at %d threads differ from those trained at 1", threads);
  }
  CHECK_OK(sc_set_num_threads(configured));
}

/* The kernels' instruction set is named, and SUPERCONV_ISA=portable (which every CPU runs) is
   followed: the results of this program are then those of the portable kernels. */
static void instruction_set_is_named(void) {
  const char *isa = sc_instruction_set(), *asked = getenv("SUPERCONV_ISA");
  CHECK(strncmp(isa, "portable (supported: portable", 29) == 0 || strncmp(isa, "avx2 (supported: portable avx2", 30) == 0 ||
            strncmp(isa, "avx512 (supported: portable avx2 avx512", 39) == 0,
        "sc_instruction_set() = '%s'", isa);
  if (asked && strcmp(asked, "portable") == 0)
    CHECK(strncmp(isa, "portable ", 9) == 0, "SUPERCONV_ISA=portable, yet sc_instruction_set() = '%s'", isa);
  printf("kernels: %s\n", isa);
}

int main(void) {
  instruction_set_is_named();
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
  thread_count_does_not_change_results();
  fork_safety();
  files_from_several_threads();
  interrupt_from_another_thread();
  return check_summary("test_threads");
}
