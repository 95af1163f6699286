/* Is the loader off the trainer's critical path? Prints, on Fashion-MNIST:
   1. the loader alone: images/s through sc_loader_next with crop4,flip augmentation and
      per-channel normalisation;
   2. a training epoch of BATCHES batches of ResNet-20 fed by the loader (sc_trainer_train_epoch)
      against the same batches made beforehand and fed by sc_trainer_step, alternately, twice.
   usage: loader_throughput [BATCHES] */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <superconv.h>

#define DIR "/usr/share/datasets/fashion-mnist"
enum { BATCH = 128, SAMPLE = 784 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check(sc_status rc, const char *what) {
  if (rc != SC_OK) { fprintf(stderr, "%s: %s: %s\n", what, sc_status_name(rc), sc_last_error()); exit(1); }
}

int main(int argc, char **argv) {
  int batches = argc > 1 ? atoi(argv[1]) : 40;
  sc_dataset *d = NULL;
  check(sc_dataset_open("format=idx images=" DIR "/train-images-idx3-ubyte.gz labels=" DIR "/train-labels-idx1-ubyte.gz", &d), "open");
  char spec[256];
  float *x = malloc(sizeof(float) * BATCH * SAMPLE);
  int32_t labels[BATCH];
  int64_t n;
  int32_t done = 0;

  sc_loader *alone = NULL;
  check(sc_loader_create(d, "batch=128 seed=1 augment=crop4,flip normalize=channel", &alone), "loader");
  double start = now();
  long images = 0;
  do {
    check(sc_loader_next(alone, x, labels, BATCH, &n, &done), "next");
    images += n;
  } while (!done);
  double loader_rate = images / (now() - start);
  sc_loader_destroy(alone);

  snprintf(spec, sizeof spec, "batch=128 seed=1 augment=crop4,flip normalize=channel subset=%d", batches * BATCH);
  float *premade = malloc(sizeof(float) * batches * BATCH * SAMPLE);
  int32_t *premade_labels = malloc(sizeof(int32_t) * batches * BATCH);
  sc_loader *source = NULL;
  check(sc_loader_create(d, spec, &source), "loader");
  for (int b = 0; b < batches; b++)
    check(sc_loader_next(source, premade + (size_t)b * BATCH * SAMPLE, premade_labels + b * BATCH, BATCH, &n, &done), "next");
  sc_loader_destroy(source);

  double with_loader[2], with_premade[2];
  for (int round = 0; round < 2; round++) {
    for (int kind = 0; kind < 2; kind++) {
      sc_model *m = NULL;
      sc_trainer *t = NULL;
      check(sc_model_create("depth=20 variant=caffe input=1x28x28 classes=10", &m), "model");
      check(sc_trainer_create(m, "lr=0.05", &t), "trainer");
      double t0 = now();
      if (kind == 0) {
        sc_loader *l = NULL;
        check(sc_loader_create(d, spec, &l), "loader");
        float loss;
        double accuracy;
        check(sc_trainer_train_epoch(t, l, &loss, &accuracy), "train_epoch");
        sc_loader_destroy(l);
        with_loader[round] = now() - t0;
      } else {
        for (int b = 0; b < batches; b++)
          check(sc_trainer_step(t, premade + (size_t)b * BATCH * SAMPLE, premade_labels + b * BATCH, BATCH, NULL, NULL), "step");
        with_premade[round] = now() - t0;
      }
      sc_trainer_destroy(t);
      sc_model_destroy(m);
    }
  }
  double train_rate = batches * BATCH / with_premade[1];
  printf("| measurement | value |\n|---|---|\n");
  printf("| loader alone (crop4,flip, channel normalisation), images/s | %.0f |\n", loader_rate);
  printf("| ResNet-20 training from pre-made batches, images/s | %.0f |\n", train_rate);
  printf("| loader / training throughput | %.1fx |\n", loader_rate / train_rate);
  printf("| epoch of %d batches with the loader, s (runs 1, 2) | %.2f, %.2f |\n", batches, with_loader[0], with_loader[1]);
  printf("| the same batches pre-made, s (runs 1, 2) | %.2f, %.2f |\n", with_premade[0], with_premade[1]);
  printf("| with loader / pre-made (run 2) | %.3f |\n", with_loader[1] / with_premade[1]);
  free(x);
  free(premade);
  free(premade_labels);
  sc_dataset_destroy(d);
  return 0;
}
