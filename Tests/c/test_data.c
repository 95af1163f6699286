/* Specification of the data layer through the C ABI, on the real Fashion-MNIST files of
   Debian's dataset-fashion-mnist: a he-a ResNet-8 trained one epoch on a stratified 5,000-image
   subset reaches at least 70% on 1,000 test images; a sharded loader's ranks share every epoch;
   and the error paths. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

#define DIR "/usr/share/datasets/fashion-mnist"

static int64_t progress_calls, last_iteration;
static void on_progress(void *user, int64_t iteration, float lr, float loss, float accuracy) {
  (void)lr;
  CHECK(user == (void *)&progress_calls && isfinite(loss) && accuracy >= 0 && accuracy <= 1, "progress report");
  progress_calls++;
  last_iteration = iteration;
}

static void integration(void) {
  sc_dataset *train = NULL, *test = NULL;
  CHECK_OK(sc_dataset_open("format=idx images=" DIR "/train-images-idx3-ubyte.gz labels=" DIR "/train-labels-idx1-ubyte.gz", &train));
  CHECK_OK(sc_dataset_open("format=idx images=" DIR "/t10k-images-idx3-ubyte.gz labels=" DIR "/t10k-labels-idx1-ubyte.gz", &test));
  if (!train || !test) return;
  int64_t count = 0;
  int32_t c = 0, h = 0, w = 0, classes = 0;
  CHECK_OK(sc_dataset_info(train, &count, &c, &h, &w, &classes));
  CHECK(count == 60000 && c == 1 && h == 28 && w == 28 && classes == 10, "train info %lld %dx%dx%d %d", (long long)count, c, h, w, classes);

  sc_loader *loader = NULL, *test_loader = NULL;
  CHECK_OK(sc_loader_create(train, "batch=16 subset=5000 subset_mode=stratified seed=1 normalize=channel augment=none", &loader));
  CHECK_OK(sc_loader_create(test, "batch=250 shuffle=0 subset=1000 normalize=channel", &test_loader));
  CHECK_OK(sc_loader_copy_normalization(test_loader, loader));
  sc_dataset_destroy(train);  /* the loader keeps its data */
  int64_t samples = 0, batches = 0;
  CHECK_OK(sc_loader_info(loader, &samples, &batches));
  CHECK(samples == 5000 && batches == 313, "loader info %lld samples, %lld batches", (long long)samples, (long long)batches);

  sc_model *m = NULL;
  sc_trainer *t = NULL;
  sc_schedule *s = NULL;
  CHECK_OK(sc_model_create("depth=8 variant=he-a input=1x28x28 classes=10 seed=1", &m));
  CHECK_OK(sc_trainer_create(m, "weight_decay=0.0001", &t));
  CHECK_OK(sc_schedule_create("policy=onecycle_cosine max_lr=0.1 total_steps=313 three_phase=1 anneal=linear", &s));
  CHECK_OK(sc_trainer_set_schedule(t, s));
  CHECK_OK(sc_trainer_set_progress(t, on_progress, &progress_calls));
  float loss = NAN;
  double accuracy = NAN;
  CHECK_OK(sc_trainer_train_epoch(t, loader, &loss, &accuracy));
  printf("ResNet-8 he-a, one epoch on 5000 Fashion-MNIST images: train loss %.4f, accuracy %.2f%%\n", loss, 100 * accuracy);
  CHECK(progress_calls == 313 && last_iteration == 313, "progress called %lld times, last iteration %lld",
        (long long)progress_calls, (long long)last_iteration);
  float test_loss = NAN;
  double test_accuracy = NAN;
  CHECK_OK(sc_trainer_evaluate_loader(t, test_loader, &test_loss, &test_accuracy));
  printf("test accuracy on 1000 images: %.2f%% (loss %.4f)\n", 100 * test_accuracy, test_loss);
  CHECK(test_accuracy >= 0.70, "test accuracy %.4f below 70%%", test_accuracy);
  CHECK_OK(sc_trainer_evaluate_dataset(t, test, "batch=500 subset=1000 normalize=channel", &test_loss, &test_accuracy));
  CHECK(test_accuracy > 0.5 && test_accuracy <= 1, "evaluate_dataset accuracy %.4f", test_accuracy);
  CHECK_FAILS(sc_trainer_evaluate_dataset(t, test, "augment=flip", &test_loss, &test_accuracy), SC_ERR_INVALID_ARGUMENT, "unaugmented");

  sc_model *wrong = NULL;
  sc_trainer *wrong_t = NULL;
  CHECK_OK(sc_model_create("depth=8 variant=he-a input=3x32x32", &wrong));
  CHECK_OK(sc_trainer_create(wrong, NULL, &wrong_t));
  CHECK_FAILS(sc_trainer_train_epoch(wrong_t, loader, &loss, &accuracy), SC_ERR_SHAPE, "the model expects 3x32x32");

  float x[64 * 784];
  int32_t y[64];
  int64_t n = 0;
  int32_t done = 0;
  CHECK_FAILS(sc_loader_next(loader, x, y, 10, &n, &done), SC_ERR_SHAPE, "capacity 10");
  CHECK_OK(sc_loader_next(loader, x, y, 16, &n, &done));
  CHECK(n == 16 && done == 0, "batch of %lld, done %d", (long long)n, done);

  sc_trainer_destroy(wrong_t);
  sc_model_destroy(wrong);
  sc_schedule_destroy(s);
  sc_trainer_destroy(t);
  sc_model_destroy(m);
  sc_loader_destroy(loader);  /* mid-epoch: must not hang */
  sc_loader_destroy(test_loader);
  sc_dataset_destroy(test);
}

static void errors(void) {
  sc_dataset *d = (sc_dataset *)0x1;
  CHECK_FAILS(sc_dataset_open("format=idx images=/nonexistent labels=/nonexistent", &d), SC_ERR_IO, "/nonexistent");
  CHECK(d == NULL, "out not cleared");
  CHECK_FAILS(sc_dataset_open("format=idx images=" DIR "/train-labels-idx1-ubyte.gz labels=" DIR "/train-labels-idx1-ubyte.gz", &d),
              SC_ERR_FORMAT, "magic number is 0x00000801");
  CHECK_FAILS(sc_dataset_open("format=jpeg", &d), SC_ERR_INVALID_ARGUMENT, "format=jpeg");
  CHECK_FAILS(sc_dataset_open("format=cifar10 dir=/nonexistent", &d), SC_ERR_IO, "data_batch_1.bin");

  float x[2 * 4] = {0, 1, 2, 3, 4, 5, 6, 7};
  int32_t labels[2] = {0, 2};
  CHECK_FAILS(sc_dataset_from_memory(x, labels, 2, "1x2", &d), SC_ERR_INVALID_ARGUMENT, "shape '1x2'");
  labels[1] = -1;
  CHECK_FAILS(sc_dataset_from_memory(x, labels, 2, "1x2x2", &d), SC_ERR_INVALID_ARGUMENT, "labels[1] = -1");
  labels[1] = 2;
  x[3] = NAN;
  CHECK_FAILS(sc_dataset_from_memory(x, labels, 2, "1x2x2", &d), SC_ERR_INVALID_ARGUMENT, "x[3] = nan");
  x[3] = 3;
  CHECK_OK(sc_dataset_from_memory(x, labels, 2, "1x2x2", &d));
  int32_t classes = 0;
  CHECK_OK(sc_dataset_info(d, NULL, NULL, NULL, NULL, &classes));
  CHECK(classes == 3, "classes %d", classes);
  float back[4];
  int32_t label = -1;
  CHECK_OK(sc_dataset_get(d, 1, 1, back, 4, &label));
  CHECK(back[0] == 4 && back[3] == 7 && label == 2, "get");
  CHECK_FAILS(sc_dataset_get(d, 1, 2, back, 8, NULL), SC_ERR_INVALID_ARGUMENT, "outside the 2");
  sc_loader *l = (sc_loader *)0x1;
  CHECK_FAILS(sc_loader_create(d, "augment=rotate90", &l), SC_ERR_INVALID_ARGUMENT, "augment=rotate90");
  CHECK(l == NULL, "out not cleared");
  CHECK_FAILS(sc_loader_create(d, "subset=5", &l), SC_ERR_INVALID_ARGUMENT, "subset=5");
  CHECK_FAILS(sc_loader_create(NULL, "", &l), SC_ERR_INVALID_ARGUMENT, "d is NULL");
  sc_dataset_destroy(d);
}

/* One epoch of a loader as the labels it returns (here each sample's label is its index). */
static int64_t read_epoch(sc_loader *l, int32_t *out, int64_t *batches) {
  float x[8 * 16];
  int32_t labels[8];
  int64_t total = 0, n = 0;
  int32_t done = 0;
  *batches = 0;
  while (!done && sc_loader_next(l, x, labels, 8, &n, &done) == SC_OK) {
    memcpy(out + total, labels, sizeof(int32_t) * n);
    total += n;
    ++*batches;
  }
  return total;
}

/* shard=RANK/2: both ranks shuffle alike and take alternate places of the epoch's order, so
   together they see every sample exactly once an epoch, in as many batches each; when 2 does
   not divide the samples, the order is padded with its first sample. */
static void shards(void) {
  for (int count = 100; count <= 101; count++) {
    float x[101 * 16];
    int32_t ids[101];
    for (int i = 0; i < count; i++) {
      ids[i] = i;
      for (int p = 0; p < 16; p++) x[i * 16 + p] = (float)i;
    }
    sc_dataset *d = NULL;
    CHECK_OK(sc_dataset_from_memory(x, ids, count, "1x4x4", &d));
    sc_loader *whole = NULL, *rank[2] = {NULL, NULL};
    CHECK_OK(sc_loader_create(d, "batch=8 seed=5", &whole));
    CHECK_OK(sc_loader_create(d, "batch=8 seed=5 shard=0/2", &rank[0]));
    CHECK_OK(sc_loader_create(d, "batch=8 seed=5 shard=1/2", &rank[1]));
    int64_t samples = -1, batches[2] = {-1, -1}, order_batches;
    CHECK_OK(sc_loader_info(rank[1], &samples, NULL));
    CHECK(samples == (count + 1) / 2, "a shard of %d samples reports %lld", count, (long long)samples);
    for (int epoch = 0; epoch < 2; epoch++) {
      int32_t order[101], got[2][51];
      int64_t n_order = read_epoch(whole, order, &order_batches);
      int64_t n0 = read_epoch(rank[0], got[0], &batches[0]);
      int64_t n1 = read_epoch(rank[1], got[1], &batches[1]);
      CHECK(n0 == (count + 1) / 2 && n1 == n0 && batches[0] == batches[1],
            "%d samples, epoch %d: the ranks read %lld and %lld samples in %lld and %lld batches", count, epoch,
            (long long)n0, (long long)n1, (long long)batches[0], (long long)batches[1]);
      int seen[101] = {0}, alternate = 1;
      for (int r = 0; r < 2; r++) {
        for (int64_t k = 0; k < n0; k++) {
          seen[got[r][k]]++;
          alternate &= got[r][k] == order[(2 * k + r) % n_order];
        }
      }
      int once = 1;
      for (int i = 0; i < count; i++) once &= seen[i] == (i == order[0] && count % 2 ? 2 : 1);
      CHECK(once, "%d samples, epoch %d: the two ranks do not cover the epoch exactly once (plus the padding)",
            count, epoch);
      CHECK(alternate, "%d samples, epoch %d: the ranks do not take alternate places of the common order", count, epoch);
    }
    CHECK(order_batches > batches[0], "a shard has as many batches as the whole epoch");
    sc_loader_destroy(whole);
    sc_loader_destroy(rank[0]);
    sc_loader_destroy(rank[1]);
    sc_loader *bad = NULL;
    CHECK_FAILS(sc_loader_create(d, "shard=2/2", &bad), SC_ERR_INVALID_ARGUMENT, "shard");
    CHECK_FAILS(sc_loader_create(d, "shard=1", &bad), SC_ERR_INVALID_ARGUMENT, "shard");
    CHECK_FAILS(sc_loader_create(d, "shard=0/200", &bad), SC_ERR_INVALID_ARGUMENT, "shared among 200");
    sc_dataset_destroy(d);
  }
}

int main(void) {
  shards();
  integration();
  errors();
  return check_summary("test_data");
}
