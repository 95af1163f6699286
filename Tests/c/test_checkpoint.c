/* Specification of checkpoints: a run resumed from a checkpoint in a fresh process continues
   bit-identically; failed or interrupted saves leave the previous checkpoint loadable; damaged
   or mismatched files give a clear error and change nothing. */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "../fixtures/checkpoint_v1_run.h"

#ifndef FIXTURES
#define FIXTURES "Tests/fixtures"
#endif

/* Every run here trains on the data of the fixture's run (v1_x, v1_y). */
enum { SAMPLE = V1_SAMPLE, N = V1_N, BEFORE = 4, AFTER = 7 };
static const char *MODEL = "depth=8 variant=caffe input=3x8x8 classes=4 seed=11 dropout=0.2";
static const char *TRAINER = "optimizer=nesterov weight_decay=0.0005";
/* One cycle of 6 up, 6 down, annihilation to 12: the resume point (4) is before the peak (6),
   and the run after it crosses the peak and the start of the annihilation (12)? no: 4+7 = 11. */
static const char *SCHEDULE = "policy=onecycle base_lr=0.05 max_lr=0.5 stepsize=5 max_iter=12 momentum=0.95,0.85";
static char dir[256];

/* Batch k of the run: a rotation of the data, so that consecutive batches differ. */
static void step(sc_trainer *t, int k) {
  static float batch[8 * SAMPLE];
  static int32_t labels[8];
  for (int i = 0; i < 8; i++) {
    int j = (k * 3 + i) % N;
    memcpy(batch + i * SAMPLE, v1_x + j * SAMPLE, sizeof(float) * SAMPLE);
    labels[i] = v1_y[j];
  }
  CHECK_OK(sc_trainer_step(t, batch, labels, 8, NULL, NULL));
}

static void make(sc_model **m, sc_trainer **t) {
  sc_schedule *s = NULL;
  CHECK_OK(sc_model_create(MODEL, m));
  CHECK_OK(sc_trainer_create(*m, TRAINER, t));
  CHECK_OK(sc_schedule_create(SCHEDULE, &s));
  CHECK_OK(sc_trainer_set_schedule(*t, s));
  sc_schedule_destroy(s);
}

static void path(char *out, const char *name) { snprintf(out, 512, "%s/%s", dir, name); }

/* The child: a fresh process loads the checkpoint into a fresh trainer and trains the rest. */
static int resume_in_child(const char *from, const char *to) {
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  CHECK_OK(sc_model_create(MODEL, &m));
  CHECK_OK(sc_trainer_create(m, TRAINER, &t));  /* no schedule, no estimator: all from the file */
  CHECK_OK(sc_checkpoint_load(t, from));
  for (int k = BEFORE; k < BEFORE + AFTER; k++) step(t, k);
  CHECK_OK(sc_checkpoint_save(t, to));
  return check_failed == 0 ? 0 : 1;
}

/* Every tensor of two models, compared bit for bit. */
static int same_tensors(sc_model *a, sc_model *b) {
  int64_t count = 0;
  sc_model_param_count(a, &count);
  float *u = malloc(sizeof(float) * 20000), *v = malloc(sizeof(float) * 20000);
  int same = 1;
  for (int64_t i = 0; i < count; i++) {
    const char *name;
    int64_t shape[4];
    sc_model_param_info(a, i, &name, NULL, shape);
    int64_t len = shape[0] * shape[1] * shape[2] * shape[3];
    CHECK_OK(sc_model_param_get(a, name, u, len));
    CHECK_OK(sc_model_param_get(b, name, v, len));
    if (memcmp(u, v, sizeof(float) * len) != 0) { fprintf(stderr, "tensor %s differs\n", name); same = 0; }
  }
  free(u);
  free(v);
  return same;
}

static void resume(const char *self) {
  char mid[512], straight[512], resumed[512];
  path(mid, "mid.h5");
  path(straight, "straight.h5");
  path(resumed, "resumed.h5");
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  make(&m, &t);
  /* Attached at an odd iteration, so that a lost estimator start shifts its snapshots. */
  step(t, 0);
  CHECK_OK(sc_trainer_attach_lr_estimator(t, "inc=2"));
  for (int k = 1; k < BEFORE; k++) step(t, k);
  CHECK_OK(sc_checkpoint_save(t, mid));
  for (int k = BEFORE; k < BEFORE + AFTER; k++) step(t, k);
  CHECK_OK(sc_checkpoint_save(t, straight));
  float raw_straight = NAN, smoothed_straight = NAN;
  CHECK_OK(sc_trainer_lr_estimate(t, &raw_straight, &smoothed_straight));

  char command[1200];
  snprintf(command, sizeof command, "%s --resume %s %s", self, mid, resumed);
  int status = system(command);
  CHECK(status == 0, "the resuming process failed (%d)", status);

  /* Final weights and statistics, bit for bit. */
  sc_model *a = NULL, *b = NULL;
  CHECK_OK(sc_model_create_from_checkpoint(straight, &a));
  CHECK_OK(sc_model_create_from_checkpoint(resumed, &b));
  if (a && b) CHECK(same_tensors(a, b), "resumed weights differ from the straight run's");
  /* Optimizer state, schedule, generator and estimator: one more step from each is identical. */
  sc_model *ma = NULL, *mb = NULL;
  sc_trainer *ta = NULL, *tb = NULL;
  CHECK_OK(sc_model_create(MODEL, &ma));
  CHECK_OK(sc_model_create(MODEL, &mb));
  CHECK_OK(sc_trainer_create(ma, TRAINER, &ta));
  CHECK_OK(sc_trainer_create(mb, TRAINER, &tb));
  CHECK_OK(sc_checkpoint_load(ta, straight));
  CHECK_OK(sc_checkpoint_load(tb, resumed));
  int64_t ia = 0, ib = 0;
  CHECK_OK(sc_trainer_iteration(ta, &ia));
  CHECK_OK(sc_trainer_iteration(tb, &ib));
  CHECK(ia == BEFORE + AFTER && ib == ia, "iterations %lld and %lld", (long long)ia, (long long)ib);
  float ra = NAN, sa = NAN, rb = NAN, sb = NAN;
  CHECK_OK(sc_trainer_lr_estimate(tb, &rb, &sb));
  CHECK(memcmp(&rb, &raw_straight, sizeof rb) == 0 && memcmp(&sb, &smoothed_straight, sizeof sb) == 0,
        "estimator after resume %g/%g, straight %g/%g", rb, sb, raw_straight, smoothed_straight);
  step(ta, 20);
  step(tb, 20);
  CHECK(same_tensors(ma, mb), "the step after the checkpoint differs: optimizer, schedule or generator state was lost");
  CHECK_OK(sc_trainer_lr_estimate(ta, &ra, &sa));
  CHECK_OK(sc_trainer_lr_estimate(tb, &rb, &sb));
  CHECK(memcmp(&ra, &rb, sizeof ra) == 0, "estimates differ after one more step");
  printf("resume: %d steps, checkpoint, %d steps in a fresh process: bit-identical to %d steps straight\n", BEFORE, AFTER,
         BEFORE + AFTER);
  sc_trainer_destroy(ta); sc_trainer_destroy(tb); sc_model_destroy(ma); sc_model_destroy(mb);
  sc_model_destroy(a); sc_model_destroy(b);
  sc_trainer_destroy(t); sc_model_destroy(m);
}

/* With a loader: a checkpoint after one epoch, loaded into a fresh trainer with a fresh loader
   of the same spec, continues with the second epoch's batches, as the straight run does. */
static void resume_with_loader(void) {
  char ckpt[512];
  path(ckpt, "loader.h5");
  sc_dataset *d = NULL;
  CHECK_OK(sc_dataset_from_memory(v1_x, v1_y, N, "3x8x8", &d));
  const char *loader_spec = "batch=4 seed=3 augment=flip";
  sc_model *m = NULL, *m2 = NULL;
  sc_trainer *t = NULL, *t2 = NULL;
  sc_loader *l = NULL, *l2 = NULL;
  float loss;
  double accuracy;
  make(&m, &t);
  CHECK_OK(sc_loader_create(d, loader_spec, &l));
  CHECK_OK(sc_trainer_train_epoch(t, l, &loss, &accuracy));
  CHECK_OK(sc_checkpoint_save(t, ckpt));
  CHECK_OK(sc_trainer_train_epoch(t, l, &loss, &accuracy));

  make(&m2, &t2);
  CHECK_OK(sc_checkpoint_load(t2, ckpt));
  CHECK_OK(sc_loader_create(d, loader_spec, &l2));
  float loss2;
  double accuracy2;
  CHECK_OK(sc_trainer_train_epoch(t2, l2, &loss2, &accuracy2));
  CHECK(memcmp(&loss, &loss2, sizeof loss) == 0 && same_tensors(m, m2),
        "the resumed epoch differs (loss %.9g vs %.9g): the loader did not continue where it stood", loss, loss2);
  sc_loader_destroy(l); sc_loader_destroy(l2);
  sc_trainer_destroy(t); sc_trainer_destroy(t2);
  sc_model_destroy(m); sc_model_destroy(m2);
  sc_dataset_destroy(d);
}

static sc_trainer *to_interrupt;
static void interrupt_at_2(void *user, int64_t iteration, float lr, float loss, float accuracy) {
  (void)user; (void)lr; (void)loss; (void)accuracy;
  if (iteration == 2) sc_trainer_interrupt(to_interrupt);
}

/* A data-parallel job's checkpoint, saved by rank 0 mid-epoch, resumes rank 1 too: its loader
   (shard=1/2) continues at the saved batch, and finishes the epoch in the steps left. */
static void resume_shard(void) {
  char ckpt[512];
  path(ckpt, "shard.h5");
  sc_dataset *d = NULL;
  CHECK_OK(sc_dataset_from_memory(v1_x, v1_y, N, "3x8x8", &d));
  sc_model *m = NULL, *m1 = NULL;
  sc_trainer *t = NULL, *t1 = NULL;
  sc_loader *l0 = NULL, *l1 = NULL;
  int64_t batches = 0, iteration = 0;
  make(&m, &t);
  CHECK_OK(sc_loader_create(d, "batch=2 seed=3 shard=0/2", &l0));
  CHECK_OK(sc_loader_info(l0, NULL, &batches));
  to_interrupt = t;
  CHECK_OK(sc_trainer_set_progress(t, interrupt_at_2, NULL));
  CHECK_FAILS(sc_trainer_train_epoch(t, l0, NULL, NULL), SC_INTERRUPTED, "interrupted");
  CHECK_OK(sc_checkpoint_save(t, ckpt));
  make(&m1, &t1);
  CHECK_OK(sc_checkpoint_load(t1, ckpt));
  CHECK_OK(sc_loader_create(d, "batch=2 seed=3 shard=1/2", &l1));
  CHECK_OK(sc_trainer_train_epoch(t1, l1, NULL, NULL));
  CHECK_OK(sc_trainer_iteration(t1, &iteration));
  CHECK(batches == 4 && iteration == batches, "rank 1 resumed at iteration 2 and ended its epoch at %lld, expected %lld",
        (long long)iteration, (long long)batches);
  sc_loader_destroy(l0); sc_loader_destroy(l1);
  sc_trainer_destroy(t); sc_trainer_destroy(t1);
  sc_model_destroy(m); sc_model_destroy(m1);
  sc_dataset_destroy(d);
}

/* A version-1 checkpoint (positional counters), committed with the transcript of what its run
   did after the save (Tests/fixtures/make_checkpoint_v1.c): loaded by this library into a fresh
   run, it holds the same tensors and counters, and it continues bit-identically. The transcript's
   first two lines (iteration, tensor hash) are read from the file alone; the rest is arithmetic
   recorded on the avx2 kernels (main asks for them), compared where this CPU runs them. */
static void version_1_fixture(void) {
  char expected[1024] = {0}, *actual = NULL;
  size_t actual_len = 0;
  FILE *f = fopen(FIXTURES "/checkpoint_v1_continuation.txt", "r");
  CHECK(f != NULL, "cannot open %s", FIXTURES "/checkpoint_v1_continuation.txt");
  if (!f) return;
  CHECK(fread(expected, 1, sizeof expected - 1, f) > 0, "the transcript is empty");
  fclose(f);
  v1_run run = {0};
  CHECK_OK(v1_create(&run));
  CHECK_OK(sc_checkpoint_load(run.trainer, FIXTURES "/checkpoint_v1.h5"));
  FILE *out = open_memstream(&actual, &actual_len);
  CHECK_OK(v1_continue(&run, out));
  fclose(out);
  const char *loaded_end = strchr(strchr(expected, '\n') + 1, '\n') + 1;
  size_t loaded = (size_t)(loaded_end - expected);
  CHECK(strncmp(actual, expected, loaded) == 0, "the version-1 fixture loads differently; it gave\n%.*sinstead of\n%.*s",
        (int)loaded, actual, (int)loaded, expected);
  if (strncmp(sc_instruction_set(), "avx2 ", 5) == 0) {
    CHECK(strcmp(actual, expected) == 0, "the run resumed from the version-1 fixture differs; it gave\n%sinstead of\n%s",
          actual, expected);
    printf("version-1 fixture: loads and continues bit-identically to the run that saved it\n");
  } else {
    printf("version-1 fixture: loads the same tensors and counters; continuation skipped: recorded on avx2, "
           "this CPU runs %s\n", sc_instruction_set());
  }
  free(actual);
  v1_destroy(&run);
}

static void copy_damaged(const char *from, const char *to, long truncate_to, long flip_at) {
  FILE *f = fopen(from, "rb");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  rewind(f);
  unsigned char *bytes = malloc(size);
  CHECK(fread(bytes, 1, size, f) == (size_t)size, "read %s", from);
  fclose(f);
  if (flip_at >= 0) for (long i = flip_at; i < flip_at + 16 && i < size; i++) bytes[i] ^= 0x5a;
  f = fopen(to, "wb");
  fwrite(bytes, 1, truncate_to >= 0 ? truncate_to : size, f);
  fclose(f);
  free(bytes);
}

static void faults(void) {
  char good[512], bad[512], ro[512], inside[600];
  path(good, "good.h5");
  path(bad, "bad.h5");
  sc_model *m = NULL;
  sc_trainer *t = NULL;
  make(&m, &t);
  step(t, 0);
  CHECK_OK(sc_checkpoint_save(t, good));
  float before[16 * 27], after[16 * 27];
  CHECK_OK(sc_model_param_get(m, "conv1.weight", before, 16 * 27));
  int64_t it_before = 0, it_after = 0;
  sc_trainer_iteration(t, &it_before);

  /* Truncated, flipped bytes in the middle and at the end, not HDF5 at all. */
  struct stat st;
  stat(good, &st);
  copy_damaged(good, bad, st.st_size / 2, -1);
  CHECK(sc_checkpoint_load(t, bad) == SC_ERR_FORMAT, "truncated: %s", sc_last_error());
  /* Flipped bytes: either the load fails with SC_ERR_FORMAT, or (when they hit padding that
     nothing reads) it loads exactly the saved tensors; damaged values are never loaded. */
  sc_model *saved = NULL;
  CHECK_OK(sc_model_create_from_checkpoint(good, &saved));
  int detected = 0;
  for (long at = 1024; at < st.st_size; at += st.st_size / 23) {
    copy_damaged(good, bad, -1, at);
    sc_model *fm = NULL;
    sc_trainer *ft = NULL;
    CHECK_OK(sc_model_create(MODEL, &fm));
    CHECK_OK(sc_trainer_create(fm, TRAINER, &ft));
    sc_status rc = sc_checkpoint_load(ft, bad);
    CHECK(rc == SC_ERR_FORMAT || (rc == SC_OK && same_tensors(fm, saved)), "bytes flipped at %ld: %s (%s)", at,
          sc_status_name(rc), sc_last_error());
    detected += rc == SC_ERR_FORMAT;
    sc_trainer_destroy(ft);
    sc_model_destroy(fm);
  }
  printf("flipped bytes at 23 places: %d detected, the rest hit bytes nothing reads\n", detected);
  CHECK(detected > 10, "only %d of 23 damaged copies were detected", detected);
  sc_model_destroy(saved);
  FILE *f = fopen(bad, "wb");
  fputs("this is not an HDF5 file\n", f);
  fclose(f);
  CHECK_FAILS(sc_checkpoint_load(t, bad), SC_ERR_FORMAT, "not an HDF5 file");
  CHECK_FAILS(sc_checkpoint_load(t, "/nonexistent/x.h5"), SC_ERR_IO, "/nonexistent/x.h5");
  CHECK_FAILS(sc_checkpoint_load(t, NULL), SC_ERR_INVALID_ARGUMENT, "path is NULL");

  /* A checkpoint of another depth, and of another optimizer. */
  sc_model *deep = NULL;
  sc_trainer *deep_t = NULL;
  CHECK_OK(sc_model_create("depth=20 variant=caffe input=3x8x8 classes=4 seed=11", &deep));
  CHECK_OK(sc_trainer_create(deep, TRAINER, &deep_t));
  CHECK_FAILS(sc_checkpoint_load(deep_t, good), SC_ERR_FORMAT, "dataset 'model/layer1.1.conv1.weight' is missing");
  CHECK(strstr(sc_last_error(), "the checkpoint's model is 'depth=8") != NULL, "no model comparison: %s", sc_last_error());
  sc_model *wide = NULL;
  sc_trainer *wide_t = NULL;
  CHECK_OK(sc_model_create("depth=8 variant=caffe input=3x8x8 classes=7 seed=11", &wide));
  CHECK_OK(sc_trainer_create(wide, TRAINER, &wide_t));
  CHECK_FAILS(sc_checkpoint_load(wide_t, good), SC_ERR_FORMAT, "dataset 'model/fc.weight' has shape [4, 64], expected [7, 64]");
  sc_trainer_destroy(wide_t);
  sc_model_destroy(wide);
  sc_model *adam_m = NULL;
  sc_trainer *adam_t = NULL;
  CHECK_OK(sc_model_create(MODEL, &adam_m));
  CHECK_OK(sc_trainer_create(adam_m, "optimizer=adam", &adam_t));
  CHECK_OK(sc_checkpoint_save(adam_t, bad));
  CHECK_FAILS(sc_checkpoint_load(t, bad), SC_ERR_FORMAT, "optimizer");

  /* Nothing changed by any failed load. */
  CHECK_OK(sc_model_param_get(m, "conv1.weight", after, 16 * 27));
  sc_trainer_iteration(t, &it_after);
  CHECK(memcmp(before, after, sizeof before) == 0 && it_before == it_after, "a failed load changed the trainer");

  /* A read-only folder: the save fails and the previous checkpoint is still there and loadable. */
  snprintf(ro, sizeof ro, "%s/readonly", dir);
  mkdir(ro, 0755);
  snprintf(inside, sizeof inside, "%s/ckpt.h5", ro);
  CHECK_OK(sc_checkpoint_save(t, inside));
  chmod(ro, 0555);
  step(t, 1);
  sc_status rc = sc_checkpoint_save(t, inside);
  if (geteuid() == 0) {
    /* root ignores directory permissions; the failure then cannot be provoked this way. */
    printf("running as root: the read-only folder does not stop the save (%s)\n", sc_status_name(rc));
  } else {
    CHECK(rc == SC_ERR_IO, "save into a read-only folder: %s", sc_status_name(rc));
  }
  chmod(ro, 0755);
  CHECK_OK(sc_checkpoint_load(t, inside));

  /* A save whose temporary file cannot be created (a folder stands at its name; works as root
     too): SC_ERR_IO, and the previous checkpoint is intact and loadable. */
  char blocker[700];
  snprintf(blocker, sizeof blocker, "%s.tmp.%d", inside, (int)getpid());
  mkdir(blocker, 0755);
  step(t, 2);
  CHECK_FAILS(sc_checkpoint_save(t, inside), SC_ERR_IO, "cannot create");
  rmdir(blocker);
  CHECK_OK(sc_checkpoint_load(t, inside));

  /* A target that exists and is not a regular file is refused, not replaced (as root, a save
     onto the null device renamed a file over the device node; a FIFO stands in for it here). */
  char fifo[600];
  struct stat node;
  path(fifo, "fifo");
  CHECK(mkfifo(fifo, 0600) == 0, "cannot make the FIFO %s", fifo);
  CHECK_FAILS(sc_checkpoint_save(t, fifo), SC_ERR_IO, "exists and is not a regular file");
  CHECK(stat(fifo, &node) == 0 && S_ISFIFO(node.st_mode), "the FIFO was replaced");
  unlink(fifo);
  CHECK_FAILS(sc_checkpoint_save(t, ro), SC_ERR_IO, "exists and is not a regular file");

  /* A save into a missing folder fails with SC_ERR_IO and leaves nothing behind. */
  CHECK_FAILS(sc_checkpoint_save(t, "/nonexistent-folder/ckpt.h5"), SC_ERR_IO, "/nonexistent-folder/ckpt.h5");

  /* A child killed while it saves again and again: the last complete checkpoint stays loadable. */
  char target[512];
  path(target, "killed.h5");
  CHECK_OK(sc_checkpoint_save(t, target));
  for (int round = 0; round < 5; round++) {
    pid_t child = fork();
    if (child == 0) {
      for (;;) sc_checkpoint_save(t, target);
    }
    usleep(20000 + 13000 * round);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_OK(sc_checkpoint_load(t, target));
  }
  /* A temporary file of a killed saver (its process gone) is removed by the next save. */
  char abandoned[700];
  snprintf(abandoned, sizeof abandoned, "%s.tmp.%d", target, 2147483646);  /* beyond any pid_max */
  FILE *left = fopen(abandoned, "w");
  if (left) fclose(left);
  CHECK_OK(sc_checkpoint_save(t, target));
  CHECK(access(abandoned, F_OK) != 0, "the abandoned temporary file %s is still there", abandoned);
  /* A save into a folder of many files: the search for abandoned temporaries reads entries at
     the very end of readdir's buffer, which it once copied past (AddressSanitizer saw it). */
  char crowded[600], name[700];
  snprintf(crowded, sizeof crowded, "%s/crowded", dir);
  mkdir(crowded, 0755);
  for (int i = 0; i < 3000; i++) {
    snprintf(name, sizeof name, "%s/%0*d", crowded, 1 + i % 23, i);
    FILE *f = fopen(name, "w");
    if (f) fclose(f);
  }
  snprintf(name, sizeof name, "%s/checkpoint.h5", crowded);
  CHECK_OK(sc_checkpoint_save(t, name));
  CHECK_OK(sc_checkpoint_load(t, name));
  sc_trainer_destroy(adam_t); sc_model_destroy(adam_m);
  sc_trainer_destroy(deep_t); sc_model_destroy(deep);
  sc_trainer_destroy(t); sc_model_destroy(m);
}

int main(int argc, char **argv) {
  /* The fixture's continuation was recorded on the avx2 direct kernels. */
  setenv("SUPERCONV_ISA", "avx2", 1);
  setenv("SUPERCONV_WINOGRAD", "0", 1);
  v1_data();
  if (argc == 4 && strcmp(argv[1], "--resume") == 0) return resume_in_child(argv[2], argv[3]);
  snprintf(dir, sizeof dir, "/tmp/superconv-checkpoint-test-%d", (int)getpid());
  mkdir(dir, 0755);
  resume(argv[0]);
  resume_with_loader();
  resume_shard();
  version_1_fixture();
  faults();
  char command[600];
  snprintf(command, sizeof command, "rm -rf %s", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_summary("test_checkpoint");
}
