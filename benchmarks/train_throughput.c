#define _POSIX_C_SOURCE 199309L
/* Training throughput of one configuration, in its own process so that peak RSS is its own.
   usage: train_throughput [--profile] [--eval] DEPTH VARIANT BATCH THREADS [STEPS] [WARMUP]
   prints: depth variant batch threads images_per_second peak_rss_mib
   --profile adds, on stderr, the time per layer and per kind of layer of the timed steps.
   --eval times inference (sc_model_forward) instead, on the weights after the WARMUP training
   steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <superconv.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what, sc_status rc) {
  fprintf(stderr, "%s: %s: %s\n", what, sc_status_name(rc), sc_last_error());
  return 1;
}

int main(int argc, char **argv) {
  int profile = argc > 1 && strcmp(argv[1], "--profile") == 0;
  if (profile) argv++, argc--;
  int eval = argc > 1 && strcmp(argv[1], "--eval") == 0;
  if (eval) argv++, argc--;
  if (argc < 5) {
    fprintf(stderr, "usage: %s [--profile] [--eval] DEPTH VARIANT BATCH THREADS [STEPS] [WARMUP]\n", argv[0]);
    return 2;
  }
  int depth = atoi(argv[1]), batch = atoi(argv[3]), threads = atoi(argv[4]);
  int steps = argc > 5 ? atoi(argv[5]) : 10, warmup = argc > 6 ? atoi(argv[6]) : 2;
  const char *variant = argv[2];
  sc_status rc = sc_set_num_threads(threads);
  if (rc != SC_OK) return fail("sc_set_num_threads", rc);

  char spec[256];
  snprintf(spec, sizeof spec, "depth=%d variant=%s input=3x32x32 classes=10 seed=1", depth, variant);
  sc_model *model = NULL;
  sc_trainer *trainer = NULL;
  if ((rc = sc_model_create(spec, &model)) != SC_OK) return fail("sc_model_create", rc);
  if ((rc = sc_trainer_create(model, "lr=0.05 momentum=0.9 weight_decay=1e-4", &trainer)) != SC_OK)
    return fail("sc_trainer_create", rc);

  size_t n = (size_t)batch * 3 * 32 * 32;
  float *x = malloc(n * sizeof(float));
  int32_t *labels = malloc(batch * sizeof(int32_t));
  float *logits = malloc((size_t)batch * 10 * sizeof(float));
  uint64_t s = 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x[i] = (float)((s >> 40) * (1.0 / 16777216.0)) - 0.5f;
  }
  for (int i = 0; i < batch; i++) labels[i] = i % 10;

  double start = 0;
  for (int i = 0; i < warmup + steps; i++) {
    if (i == warmup) {
      start = now();
      if (profile && (rc = sc_model_set_profiling(model, 1)) != SC_OK) return fail("sc_model_set_profiling", rc);
    }
    if (eval && i >= warmup) {
      if ((rc = sc_model_forward(model, x, batch, logits, (int64_t)batch * 10)) != SC_OK) return fail("sc_model_forward", rc);
    } else if ((rc = sc_trainer_step(trainer, x, labels, batch, NULL, NULL)) != SC_OK) {
      return fail("sc_trainer_step", rc);
    }
  }
  double seconds = now() - start;
  if (profile) {
    const char *report = NULL;
    if ((rc = sc_model_profile(model, &report)) != SC_OK) return fail("sc_model_profile", rc);
    fprintf(stderr, "%s\n", report);
  }
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  printf("%d %s %d %d %.1f %.0f\n", depth, variant, batch, threads, steps * batch / seconds,
         usage.ru_maxrss / 1024.0);
  sc_trainer_destroy(trainer);
  sc_model_destroy(model);
  free(x);
  free(labels);
  free(logits);
  return 0;
}
