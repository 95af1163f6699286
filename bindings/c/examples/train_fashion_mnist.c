/* Trains a CIFAR-style ResNet on Fashion-MNIST from plain C through libsuperconv.
 *
 *   train_fashion_mnist [--data DIR] [--depth 20] [--variant caffe|he-a] [--epochs 2]
 *                       [--train N] [--batch 128] [--max-lr 1] [--threads T]
 *                       [--checkpoint PATH] [--resume 0|1]
 *
 * A checkpoint is saved after every epoch (default superconv-fashion-mnist.h5); with --resume 1
 * training continues from it (weights, optimizer, schedule, data order) for the epochs left.
 *
 * The data are the IDX files of Debian's dataset-fashion-mnist package. Inputs get the paper's
 * preprocessing: the per-pixel mean of the training images subtracted, no scaling. The learning
 * rate follows one cycle (PyTorch's OneCycleLR form: three linear phases, div 25, momentum
 * 0.95 -> 0.85 -> 0.95) over the whole run, peaking at --max-lr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <superconv.h>

static int fail(const char *what, sc_status rc) {
  fprintf(stderr, "%s failed: %s: %s\n", what, sc_status_name(rc), sc_last_error());
  return 1;
}

/* Prints a line every 50 iterations. */
static void progress(void *user, int64_t iteration, float lr, float loss, float accuracy) {
  (void)user;
  if (iteration % 50 == 0)
    printf("iteration %5lld  lr %.3f  batch loss %.4f  batch accuracy %5.1f%%\n", (long long)iteration, lr, loss,
           100 * accuracy), fflush(stdout);
}

int main(int argc, char **argv) {
  const char *dir = "/usr/share/datasets/fashion-mnist", *variant = "caffe";
  int depth = 20, epochs = 2, batch = 128, threads = 0;
  long train_limit = 0;
  double max_lr = 1.0;
  const char *checkpoint = "superconv-fashion-mnist.h5";
  int resume = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--data")) dir = argv[i + 1];
    else if (!strcmp(argv[i], "--depth")) depth = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--variant")) variant = argv[i + 1];
    else if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--train")) train_limit = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-lr")) max_lr = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--checkpoint")) checkpoint = argv[i + 1];
    else if (!strcmp(argv[i], "--resume")) resume = atoi(argv[i + 1]);
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  sc_status rc;
  if (threads > 0 && (rc = sc_set_num_threads(threads)) != SC_OK) return fail("sc_set_num_threads", rc);

  char spec[1024];
  sc_dataset *train = NULL, *test = NULL;
  snprintf(spec, sizeof spec, "format=idx images=%s/train-images-idx3-ubyte.gz labels=%s/train-labels-idx1-ubyte.gz", dir, dir);
  if ((rc = sc_dataset_open(spec, &train)) != SC_OK) return fail("opening the training set (install dataset-fashion-mnist)", rc);
  snprintf(spec, sizeof spec, "format=idx images=%s/t10k-images-idx3-ubyte.gz labels=%s/t10k-labels-idx1-ubyte.gz", dir, dir);
  if ((rc = sc_dataset_open(spec, &test)) != SC_OK) return fail("opening the test set", rc);

  sc_loader *loader = NULL, *test_loader = NULL;
  snprintf(spec, sizeof spec, "batch=%d seed=1 normalize=pixel subset=%ld", batch, train_limit);
  if ((rc = sc_loader_create(train, spec, &loader)) != SC_OK) return fail("sc_loader_create", rc);
  if ((rc = sc_loader_create(test, "batch=500 shuffle=0 normalize=pixel", &test_loader)) != SC_OK) return fail("sc_loader_create", rc);
  if ((rc = sc_loader_copy_normalization(test_loader, loader)) != SC_OK) return fail("sc_loader_copy_normalization", rc);
  int64_t samples = 0, batches = 0;
  sc_loader_info(loader, &samples, &batches);

  sc_model *model = NULL;
  sc_trainer *trainer = NULL;
  sc_schedule *schedule = NULL;
  snprintf(spec, sizeof spec, "depth=%d variant=%s input=1x28x28 classes=10 seed=1", depth, variant);
  if ((rc = sc_model_create(spec, &model)) != SC_OK) return fail("sc_model_create", rc);
  if ((rc = sc_trainer_create(model, "weight_decay=0.0001", &trainer)) != SC_OK) return fail("sc_trainer_create", rc);
  snprintf(spec, sizeof spec, "policy=onecycle_cosine max_lr=%g total_steps=%lld pct_start=0.3 three_phase=1 anneal=linear",
           max_lr, (long long)(epochs * batches < 2 ? 2 : epochs * batches));
  if ((rc = sc_schedule_create(spec, &schedule)) != SC_OK) return fail("sc_schedule_create", rc);
  if ((rc = sc_trainer_set_schedule(trainer, schedule)) != SC_OK) return fail("sc_trainer_set_schedule", rc);
  sc_trainer_set_progress(trainer, progress, NULL);
  printf("model:    %s\nschedule: %s\nloader:   %s (%lld samples, %lld batches per epoch)\nthreads:  %d\n",
         sc_model_spec(model), sc_schedule_spec(schedule), sc_loader_spec(loader), (long long)samples,
         (long long)batches, sc_get_num_threads());

  int first_epoch = 1;
  if (resume) {
    if ((rc = sc_checkpoint_load(trainer, checkpoint)) != SC_OK) return fail("sc_checkpoint_load", rc);
    int64_t iteration = 0;
    sc_trainer_iteration(trainer, &iteration);
    first_epoch = (int)(iteration / batches) + 1;
    printf("resumed from %s at iteration %lld\n", checkpoint, (long long)iteration);
  }
  for (int epoch = first_epoch; epoch <= epochs; epoch++) {
    float loss, test_loss;
    double accuracy, test_accuracy;
    if ((rc = sc_trainer_train_epoch(trainer, loader, &loss, &accuracy)) != SC_OK) return fail("sc_trainer_train_epoch", rc);
    if ((rc = sc_trainer_evaluate_loader(trainer, test_loader, &test_loss, &test_accuracy)) != SC_OK)
      return fail("sc_trainer_evaluate_loader", rc);
    printf("epoch %d  train loss %.4f  train accuracy %.2f%%  test loss %.4f  test accuracy %.2f%%\n", epoch, loss,
           100 * accuracy, test_loss, 100 * test_accuracy);
    fflush(stdout);
    if ((rc = sc_checkpoint_save(trainer, checkpoint)) != SC_OK) return fail("sc_checkpoint_save", rc);
  }
  sc_schedule_destroy(schedule);
  sc_trainer_destroy(trainer);
  sc_model_destroy(model);
  sc_loader_destroy(loader);
  sc_loader_destroy(test_loader);
  sc_dataset_destroy(train);
  sc_dataset_destroy(test);
  return 0;
}
