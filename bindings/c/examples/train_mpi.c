/* Data-parallel training on MPI: every process (rank) trains its own copy of the model on its
 * own part of each epoch, and the ranks average their gradients with MPI_Allreduce before every
 * update, so that all copies stay identical. libsuperconv knows nothing of MPI: this program
 * hands it the all-reduce (sc_trainer_set_allreduce) and gives each rank its shard of the data
 * (the loader key shard=RANK/WORLD).
 *
 *   mpicc train_mpi.c -o train_mpi $(pkg-config --cflags --libs superconv)
 *   mpirun -np 2 ./train_mpi [--data DIR] [--depth 20] [--variant caffe|he-a] [--epochs 2]
 *                            [--train N] [--test N] [--batch 128] [--max-lr 1] [--threads T]
 *                            [--checkpoint PATH] [--resume 0|1] [--print-every 50]
 *
 * --batch is per rank: the total batch is WORLD times it; every rank takes the same steps, which
 * the schedule's total_steps counts.
 * Rank 0 alone prints and saves a checkpoint after every epoch; --resume 1 makes every rank load
 * it (on several hosts, the path must reach the same file: a shared folder, or a copy). The
 * checkpoint's loader position resumes every rank's shard. The test set is shared among the
 * ranks too, and its counts summed.
 *
 * A rank that fails (a library error, bad data, a refused step) prints what went wrong and calls
 * MPI_Abort, which ends every rank with a non-zero exit instead of leaving them waiting; a rank
 * killed outright is noticed by mpirun, which ends the job. The last checkpoint resumes it.
 * The last line, on rank 0, is a checksum of every named tensor: equal checksums mean equal
 * weights and statistics (e.g. a resumed run against an uninterrupted one). */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <superconv.h>

static int rank, world;

/* Ends the whole job: one rank's failure must not leave the others waiting in an all-reduce. */
static void fail(const char *what, sc_status rc) {
  fprintf(stderr, "rank %d of %d: %s failed: %s: %s; ending the job\n", rank, world, what, sc_status_name(rc),
          sc_last_error());
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

#define TRY(call, what) do { sc_status rc_ = (call); if (rc_ != SC_OK) fail(what, rc_); } while (0)

/* The hook: sum in place across the ranks (in pieces that fit MPI's int counts). */
static sc_status allreduce(float *data, int64_t len, void *user) {
  MPI_Comm comm = *(MPI_Comm *)user;
  for (int64_t first = 0; first < len; first += INT_MAX) {
    int count = (int)(len - first < INT_MAX ? len - first : INT_MAX);
    if (MPI_Allreduce(MPI_IN_PLACE, data + first, count, MPI_FLOAT, MPI_SUM, comm) != MPI_SUCCESS) return SC_ERR_IO;
  }
  return SC_OK;
}

static int print_every = 50;

static void progress(void *user, int64_t iteration, float lr, float loss, float accuracy) {
  (void)user;
  if (iteration % print_every == 0)
    printf("iteration %5lld  lr %.3f  batch loss %.4f  batch accuracy %5.1f%% (rank 0's part)\n", (long long)iteration,
           lr, loss, 100 * accuracy), fflush(stdout);
}

/* FNV-1a over the bytes of every named tensor, in the model's order. */
static unsigned long long checksum(const sc_model *model) {
  unsigned long long h = 1469598103934665603ULL;
  int64_t count = 0;
  TRY(sc_model_param_count(model, &count), "sc_model_param_count");
  for (int64_t i = 0; i < count; i++) {
    const char *name;
    int64_t shape[4];
    TRY(sc_model_param_info(model, i, &name, NULL, shape), "sc_model_param_info");
    int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
    float *values = malloc(sizeof(float) * n);
    TRY(sc_model_param_get(model, name, values, n), "sc_model_param_get");
    const unsigned char *bytes = (const unsigned char *)values;
    for (int64_t b = 0; b < n * (int64_t)sizeof(float); b++) h = (h ^ bytes[b]) * 1099511628211ULL;
    free(values);
  }
  return h;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  const char *dir = "/usr/share/datasets/fashion-mnist", *variant = "caffe";
  int depth = 20, epochs = 2, batch = 128, threads = 0;
  long train_limit = 0, test_limit = 0;
  double max_lr = 1.0;
  const char *checkpoint = "superconv-fashion-mnist.h5";
  int resume = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--data")) dir = argv[i + 1];
    else if (!strcmp(argv[i], "--depth")) depth = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--variant")) variant = argv[i + 1];
    else if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--train")) train_limit = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--test")) test_limit = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-lr")) max_lr = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--checkpoint")) checkpoint = argv[i + 1];
    else if (!strcmp(argv[i], "--resume")) resume = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--print-every")) print_every = atoi(argv[i + 1]);
    else {
      if (rank == 0) fprintf(stderr, "unknown option %s\n", argv[i]);
      MPI_Finalize();
      return 2;
    }
  }
  if (threads > 0) TRY(sc_set_num_threads(threads), "sc_set_num_threads");

  char spec[1024];
  sc_dataset *train = NULL, *test = NULL;
  snprintf(spec, sizeof spec, "format=idx images=%s/train-images-idx3-ubyte.gz labels=%s/train-labels-idx1-ubyte.gz", dir, dir);
  TRY(sc_dataset_open(spec, &train), "opening the training set (install dataset-fashion-mnist)");
  snprintf(spec, sizeof spec, "format=idx images=%s/t10k-images-idx3-ubyte.gz labels=%s/t10k-labels-idx1-ubyte.gz", dir, dir);
  TRY(sc_dataset_open(spec, &test), "opening the test set");

  /* Every rank: the same seed, hence the same order, and its own shard of it. */
  sc_loader *loader = NULL, *test_loader = NULL;
  snprintf(spec, sizeof spec, "batch=%d seed=1 normalize=pixel subset=%ld shard=%d/%d", batch, train_limit, rank, world);
  TRY(sc_loader_create(train, spec, &loader), "sc_loader_create");
  snprintf(spec, sizeof spec, "batch=500 shuffle=0 normalize=pixel subset=%ld shard=%d/%d", test_limit, rank, world);
  TRY(sc_loader_create(test, spec, &test_loader), "sc_loader_create");
  TRY(sc_loader_copy_normalization(test_loader, loader), "sc_loader_copy_normalization");
  int64_t samples = 0, batches = 0, test_samples = 0;
  TRY(sc_loader_info(loader, &samples, &batches), "sc_loader_info");
  TRY(sc_loader_info(test_loader, &test_samples, NULL), "sc_loader_info");

  sc_model *model = NULL;
  sc_trainer *trainer = NULL;
  sc_schedule *schedule = NULL;
  snprintf(spec, sizeof spec, "depth=%d variant=%s input=1x28x28 classes=10 seed=1", depth, variant);
  TRY(sc_model_create(spec, &model), "sc_model_create");
  TRY(sc_trainer_create(model, "weight_decay=0.0001", &trainer), "sc_trainer_create");
  TRY(sc_trainer_set_allreduce(trainer, allreduce, &comm, world), "sc_trainer_set_allreduce");
  snprintf(spec, sizeof spec, "policy=onecycle_cosine max_lr=%g total_steps=%lld pct_start=0.3 three_phase=1 anneal=linear",
           max_lr, (long long)(epochs * batches < 2 ? 2 : epochs * batches));
  TRY(sc_schedule_create(spec, &schedule), "sc_schedule_create");
  TRY(sc_trainer_set_schedule(trainer, schedule), "sc_trainer_set_schedule");
  if (rank == 0) TRY(sc_trainer_set_progress(trainer, progress, NULL), "sc_trainer_set_progress");
  printf("rank %d of %d: pid %d, %lld samples in %lld batches of %d per epoch, %d threads\n", rank, world, (int)getpid(),
         (long long)samples, (long long)batches, batch, sc_get_num_threads());
  fflush(stdout);
  if (rank == 0)
    printf("model:    %s\nschedule: %s\nloader:   %s\n", sc_model_spec(model), sc_schedule_spec(schedule),
           sc_loader_spec(loader));

  int first_epoch = 1;
  if (resume) {
    TRY(sc_checkpoint_load(trainer, checkpoint), "sc_checkpoint_load");
    int64_t iteration = 0;
    TRY(sc_trainer_iteration(trainer, &iteration), "sc_trainer_iteration");
    first_epoch = (int)(iteration / batches) + 1;
    if (rank == 0) printf("resumed from %s at iteration %lld\n", checkpoint, (long long)iteration);
  }
  for (int epoch = first_epoch; epoch <= epochs; epoch++) {
    float loss, test_loss;
    double accuracy, test_accuracy;
    /* Averages the BN running statistics across ranks at its end: all ranks evaluate and save alike. */
    TRY(sc_trainer_train_epoch(trainer, loader, &loss, &accuracy), "sc_trainer_train_epoch");
    TRY(sc_trainer_evaluate_loader(trainer, test_loader, &test_loss, &test_accuracy), "sc_trainer_evaluate_loader");
    double sums[4] = {loss * (double)samples, accuracy * (double)samples, test_loss * (double)test_samples,
                      test_accuracy * (double)test_samples};
    double counts[2] = {(double)samples, (double)test_samples};
    MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_DOUBLE, MPI_SUM, comm);
    MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_DOUBLE, MPI_SUM, comm);
    if (rank == 0) {
      printf("epoch %d  train loss %.4f  train accuracy %.2f%%  test loss %.4f  test accuracy %.2f%%\n", epoch,
             sums[0] / counts[0], 100 * sums[1] / counts[0], sums[2] / counts[1], 100 * sums[3] / counts[1]);
      fflush(stdout);
      TRY(sc_checkpoint_save(trainer, checkpoint), "sc_checkpoint_save");
    }
  }
  if (rank == 0) printf("weights checksum %016llx\n", checksum(model));
  sc_schedule_destroy(schedule);
  sc_trainer_destroy(trainer);
  sc_model_destroy(model);
  sc_loader_destroy(loader);
  sc_loader_destroy(test_loader);
  sc_dataset_destroy(train);
  sc_dataset_destroy(test);
  MPI_Finalize();
  return 0;
}
