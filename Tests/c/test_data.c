/* Specification of the data layer through the C ABI, on the real Fashion-MNIST files of
   Debian's dataset-fashion-mnist: a he-a ResNet-8 trained one epoch on a stratified 5,000-image
   subset reaches at least 70% on 1,000 test images; and the error paths. */
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

int main(void) {
  integration();
  errors();
  return check_summary("test_data");
}
