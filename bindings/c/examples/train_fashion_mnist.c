/* Trains a CIFAR-style ResNet on Fashion-MNIST from plain C through libsuperconv.
 *
 *   train_fashion_mnist [--data DIR] [--depth 20] [--variant caffe|he-a] [--epochs 2]
 *                       [--train N] [--batch 128] [--max-lr 1] [--threads T]
 *
 * The learning rate follows one cycle (PyTorch's OneCycleLR form: three linear phases, div 25,
 * momentum 0.95 -> 0.85 -> 0.95) over the whole run, peaking at --max-lr.
 *
 * The data are the IDX files of Debian's dataset-fashion-mnist package (gzip-compressed), read
 * here with zlib. As in the paper's Caffe setup, inputs are the raw pixels with the per-pixel
 * training mean subtracted, without scaling (here on the 0..1 scale). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <superconv.h>

enum { SIDE = 28, PIXELS = SIDE * SIDE, CLASSES = 10 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t big_endian(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads an IDX file of unsigned bytes: magic 0x00000801 (labels) or 0x00000803 (images).
   Returns the payload (count * item bytes) or NULL with a message. */
static unsigned char *read_idx(const char *path, uint32_t magic, uint32_t item, uint32_t *count) {
  gzFile f = gzopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s (install dataset-fashion-mnist)\n", path); return NULL; }
  unsigned char header[16];
  int header_len = magic == 0x803 ? 16 : 8;
  unsigned char *data = NULL;
  if (gzread(f, header, header_len) != header_len || big_endian(header) != magic) {
    fprintf(stderr, "%s: not an IDX file with magic 0x%08x\n", path, magic);
  } else if (magic == 0x803 && (big_endian(header + 8) != SIDE || big_endian(header + 12) != SIDE)) {
    fprintf(stderr, "%s: images are not %dx%d\n", path, SIDE, SIDE);
  } else {
    *count = big_endian(header + 4);
    size_t bytes = (size_t)*count * item;
    data = *count <= 1000000 ? malloc(bytes) : NULL;
    if (!data || gzread(f, data, (unsigned)bytes) != (int)bytes) {
      fprintf(stderr, "%s: truncated or too large (%u items)\n", path, *count);
      free(data);
      data = NULL;
    }
  }
  gzclose(f);
  return data;
}

typedef struct {
  float *x;
  int32_t *labels;
  uint32_t n;
} dataset;

static int load(const char *dir, const char *split, dataset *d) {
  char images[512], labels[512];
  snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, split);
  snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, split);
  uint32_t n_images = 0, n_labels = 0;
  unsigned char *pixels = read_idx(images, 0x803, PIXELS, &n_images);
  unsigned char *classes = pixels ? read_idx(labels, 0x801, 1, &n_labels) : NULL;
  if (!classes || n_images != n_labels) {
    if (classes) fprintf(stderr, "%s: %u images but %u labels\n", split, n_images, n_labels);
    free(pixels);
    free(classes);
    return 0;
  }
  d->n = n_images;
  d->x = malloc(sizeof(float) * n_images * PIXELS);
  d->labels = malloc(sizeof(int32_t) * n_images);
  for (size_t i = 0; i < (size_t)n_images * PIXELS; i++) d->x[i] = pixels[i] / 255.0f;
  for (uint32_t i = 0; i < n_images; i++) d->labels[i] = classes[i];
  free(pixels);
  free(classes);
  return 1;
}

static void subtract(dataset *d, const float *mean) {
  for (uint32_t i = 0; i < d->n; i++)
    for (int p = 0; p < PIXELS; p++) d->x[(size_t)i * PIXELS + p] -= mean[p];
}

static int fail(const char *what, sc_status rc) {
  fprintf(stderr, "%s failed: %s: %s\n", what, sc_status_name(rc), sc_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *dir = "/usr/share/datasets/fashion-mnist", *variant = "caffe";
  int depth = 20, epochs = 2, batch = 128, threads = 0;
  long train_limit = 0;
  double max_lr = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--data")) dir = argv[i + 1];
    else if (!strcmp(argv[i], "--depth")) depth = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--variant")) variant = argv[i + 1];
    else if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--train")) train_limit = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-lr")) max_lr = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  sc_status rc;
  if (threads > 0 && (rc = sc_set_num_threads(threads)) != SC_OK) return fail("sc_set_num_threads", rc);

  dataset train, test;
  if (!load(dir, "train", &train) || !load(dir, "t10k", &test)) return 1;
  if (train_limit > 0 && train_limit < (long)train.n) train.n = (uint32_t)train_limit;
  float mean[PIXELS] = {0};
  for (uint32_t i = 0; i < train.n; i++)
    for (int p = 0; p < PIXELS; p++) mean[p] += train.x[(size_t)i * PIXELS + p] / train.n;
  subtract(&train, mean);
  subtract(&test, mean);

  char spec[256];
  snprintf(spec, sizeof spec, "depth=%d variant=%s input=1x%dx%d classes=%d seed=1", depth, variant, SIDE, SIDE, CLASSES);
  sc_model *model = NULL;
  sc_trainer *trainer = NULL;
  if ((rc = sc_model_create(spec, &model)) != SC_OK) return fail("sc_model_create", rc);
  if ((rc = sc_trainer_create(model, "weight_decay=0.0001", &trainer)) != SC_OK) return fail("sc_trainer_create", rc);
  long iterations = (long)epochs * (train.n / batch);
  snprintf(spec, sizeof spec, "policy=onecycle_cosine max_lr=%g total_steps=%ld pct_start=0.3 three_phase=1 anneal=linear",
           max_lr, iterations < 2 ? 2 : iterations);
  sc_schedule *schedule = NULL;
  if ((rc = sc_schedule_create(spec, &schedule)) != SC_OK) return fail("sc_schedule_create", rc);
  if ((rc = sc_trainer_set_schedule(trainer, schedule)) != SC_OK) return fail("sc_trainer_set_schedule", rc);
  printf("model:    %s\ntrainer:  %s\nschedule: %s\ndata:     %u training and %u test images from %s, %d thread(s)\n",
         sc_model_spec(model), sc_trainer_spec(trainer), sc_schedule_spec(schedule), train.n, test.n, dir,
         sc_get_num_threads());

  /* A fixed permutation per epoch (Fisher-Yates from a small LCG), gathered into a batch. */
  uint32_t *order = malloc(sizeof(uint32_t) * train.n);
  float *x = malloc(sizeof(float) * batch * PIXELS);
  int32_t *y = malloc(sizeof(int32_t) * batch);
  uint64_t seed = 1;
  double start = now();
  long seen = 0;
  for (int epoch = 0; epoch < epochs; epoch++) {
    for (uint32_t i = 0; i < train.n; i++) order[i] = i;
    for (uint32_t i = train.n - 1; i > 0; i--) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      uint32_t j = (uint32_t)((seed >> 33) % (i + 1)), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    double loss_sum = 0;
    long correct_sum = 0, count = 0;
    for (uint32_t first = 0; first + batch <= train.n; first += batch) {
      for (int b = 0; b < batch; b++) {
        memcpy(x + (size_t)b * PIXELS, train.x + (size_t)order[first + b] * PIXELS, sizeof(float) * PIXELS);
        y[b] = train.labels[order[first + b]];
      }
      float loss;
      int64_t correct;
      if ((rc = sc_trainer_step(trainer, x, y, batch, &loss, &correct)) != SC_OK) return fail("sc_trainer_step", rc);
      loss_sum += loss * batch;
      correct_sum += correct;
      count += batch;
      seen += batch;
      int64_t iteration;
      sc_trainer_iteration(trainer, &iteration);
      if (iteration % 50 == 0) {
        float lr = 0, momentum = 0;
        sc_schedule_at(schedule, iteration - 1, &lr, &momentum);
        printf("epoch %d  iteration %5lld  lr %.3f  momentum %.3f  train loss %.4f  train accuracy %5.2f%%  %.0f images/s\n",
               epoch + 1, (long long)iteration, lr, momentum, loss_sum / count, 100.0 * correct_sum / count,
               seen / (now() - start));
        fflush(stdout);
        loss_sum = 0;
        correct_sum = count = 0;
      }
    }
    float test_loss;
    int64_t test_correct;
    if ((rc = sc_trainer_evaluate(trainer, test.x, test.labels, test.n, &test_loss, &test_correct)) != SC_OK)
      return fail("sc_trainer_evaluate", rc);
    printf("epoch %d  test loss %.4f  test accuracy %.2f%%  (%.0f s)\n", epoch + 1, test_loss,
           100.0 * test_correct / test.n, now() - start);
  }
  sc_schedule_destroy(schedule);
  sc_trainer_destroy(trainer);
  sc_model_destroy(model);
  free(order); free(x); free(y);
  free(train.x); free(train.labels); free(test.x); free(test.labels);
  return 0;
}
