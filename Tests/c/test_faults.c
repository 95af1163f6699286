/* Fault injection as SQLite tests it: every system call and every allocation by libhdf5 on the
   paths that write files (sc_checkpoint_save, sc_trainer_record) is made to fail, the N-th one,
   for every N until a call completes with no fault met, once (a transient fault) and from N on
   (a persistent one: a full disk, memory exhausted). After each call:
     - a call that met a fault returns an error (or, for a fault its result does not depend on,
       SC_OK with the new file complete);
     - the file at the path is the previous one, intact and loadable (or, for a failure to sync
       the folder after the rename, the new one, complete);
     - no temporary file is left and libhdf5 holds no open object;
   and at the end the process exits normally (libhdf5 closes down without crashing).

   This program defines open, read, write, pwrite, fsync, close, rename, malloc, calloc and
   realloc itself; linked with --export-dynamic, its definitions take the place of libc's for
   the library and libhdf5 too, in this process and in the children the library forks (the
   count of calls is shared with them). A fault is an error return with errno set (ENOSPC for
   writes, EIO otherwise), or a null pointer. Only this test defines these; the library has no
   test hooks.

   The allocations failed are libhdf5's, which it is meant to survive. libhdf5 1.10 does not
   always: after some failures its property lists are half-made and it later frees memory twice.
   The library builds files in a child process for that reason (ChildProcess.swift), so such a
   death costs the child and the save reports it. The Swift runtime's allocations are not
   failed: it stops the process when one fails, by design (the library checks sizes from files
   and callers before it allocates instead). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <hdf5.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

enum fault { F_OPEN, F_READ, F_WRITE, F_FSYNC, F_CLOSE, F_RENAME, F_ALLOC, FAULT_KINDS };
static const char *fault_names[FAULT_KINDS] = {"open", "read", "write", "fsync", "close", "rename", "allocation"};
static const int fault_errno[FAULT_KINDS] = {EIO, EIO, ENOSPC, EIO, EIO, EIO, ENOMEM};

/* Shared with the child processes the library forks (the one that builds a file's bytes, the
   probe), so that the N-th call counts across all of them. */
static struct faults {
  int armed;        /* the kind that fails, or -1 */
  long countdown;   /* calls of that kind left before the first failure */
  int persistent;   /* 1: every call from the N-th on fails */
  long met;
} *faults;

static int armed_kind(void) { return faults ? faults->armed : -1; }

static int fails(enum fault kind) {
  if (armed_kind() != (int)kind) return 0;
  if (faults->countdown > 1) { faults->countdown--; return 0; }
  if (faults->countdown == 0 && !faults->persistent) return 0;
  faults->countdown = 0;
  faults->met++;
  errno = fault_errno[kind];
  return 1;
}

#define REAL(name) static __typeof__(name) *real_; if (!real_) real_ = dlsym(RTLD_NEXT, #name)

int open(const char *path, int flags, ...) {
  REAL(open);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }
  return fails(F_OPEN) ? -1 : real_(path, flags, mode);
}
/* On 64-bit Linux open64 is open. */
int open64(const char *path, int flags, ...) __attribute__((alias("open")));
ssize_t read(int fd, void *buffer, size_t count) {
  REAL(read);
  return fails(F_READ) ? -1 : real_(fd, buffer, count);
}
/* While writes are armed they are short (16 KiB at most), as writes near a full disk are: the
   sweep then fails the file at every 16 KiB boundary. */
ssize_t write(int fd, const void *buffer, size_t count) {
  REAL(write);
  if (fd <= 2 || armed_kind() != F_WRITE) return real_(fd, buffer, count);
  if (fails(F_WRITE)) return -1;
  return real_(fd, buffer, count < 16384 ? count : 16384);
}
ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
  REAL(pwrite);
  if (fd <= 2 || armed_kind() != F_WRITE) return real_(fd, buffer, count, offset);
  if (fails(F_WRITE)) return -1;
  return real_(fd, buffer, count < 16384 ? count : 16384, offset);
}
ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
  REAL(pwrite64);
  if (fd <= 2 || armed_kind() != F_WRITE) return real_(fd, buffer, count, offset);
  if (fails(F_WRITE)) return -1;
  return real_(fd, buffer, count < 16384 ? count : 16384, offset);
}
int fsync(int fd) {
  REAL(fsync);
  return fails(F_FSYNC) ? -1 : real_(fd);
}
int close(int fd) {
  REAL(close);
  int failed = fails(F_CLOSE);
  int rc = real_(fd);  /* the descriptor is released either way, as Linux does */
  if (failed) { errno = EIO; return -1; }
  return rc;
}
int rename(const char *from, const char *to) {
  REAL(rename);
  return fails(F_RENAME) ? -1 : real_(from, to);
}

/* Allocations fail only when made by libhdf5's own code (the caller's address lies in its text). */
static uintptr_t hdf5_text_start, hdf5_text_end;
static int find_hdf5(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size, (void)data;
  if (!strstr(info->dlpi_name, "libhdf5")) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
    if (segment->p_type == PT_LOAD && (segment->p_flags & PF_X)) {
      hdf5_text_start = info->dlpi_addr + segment->p_vaddr;
      hdf5_text_end = hdf5_text_start + segment->p_memsz;
      return 1;
    }
  }
  return 0;
}
extern void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t), *__libc_realloc(void *, size_t);
static int allocation_fails(void *caller) {
  return armed_kind() == F_ALLOC && (uintptr_t)caller >= hdf5_text_start && (uintptr_t)caller < hdf5_text_end && fails(F_ALLOC);
}
void *malloc(size_t size) {
  return allocation_fails(__builtin_return_address(0)) ? NULL : __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
  return allocation_fails(__builtin_return_address(0)) ? NULL : __libc_calloc(count, size);
}
void *realloc(void *old, size_t size) {
  return allocation_fails(__builtin_return_address(0)) ? NULL : __libc_realloc(old, size);
}

/* libhdf5 crashing on a file (it has: SIGSEGV on a zeroed object header): while `hdf5_crashes`
   is set, H5Dread stands in for such a crash. The library must survive it, because it lets
   libhdf5 read a file in a child process first. */
static int hdf5_crashes;
herr_t H5Dread(hid_t dataset, hid_t memory_type, hid_t memory_space, hid_t file_space, hid_t plist, void *buffer) {
  REAL(H5Dread);
  if (hdf5_crashes) raise(SIGSEGV);
  return real_(dataset, memory_type, memory_space, file_space, plist, buffer);
}

static void arm(enum fault kind, long n, int forever) {
  faults->met = 0;
  faults->countdown = n;
  faults->persistent = forever;
  faults->armed = kind;
}
static void disarm(void) { faults->armed = -1; }

static char dir[256];

static int temporaries_left(void) {
  int found = 0;
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));) found += strstr(e->d_name, ".tmp.") != NULL;
  if (d) closedir(d);
  return found;
}

static int64_t checkpoint_iteration(sc_trainer *reader, const char *path) {
  int64_t iteration = -1;
  if (sc_checkpoint_load(reader, path) == SC_OK) sc_trainer_iteration(reader, &iteration);
  return iteration;
}

static void step(sc_trainer *t) {
  float x[4 * 1 * 8 * 8];
  int32_t y[4] = {0, 1, 2, 0};
  for (int i = 0; i < 4 * 64; i++) x[i] = (float)((i * 37) % 11) / 11.0f;
  CHECK_OK(sc_trainer_step(t, x, y, 4, NULL, NULL));
}

/* Faults met, per kind, once and persistent. */
static int counts[FAULT_KINDS][2];
/* Saves and records whose building child died (libhdf5 crashed on a failed allocation). */
static int children_died;

static void sweep_checkpoints(sc_trainer *t, sc_trainer *reader, const char *path) {
  CHECK_OK(sc_checkpoint_save(t, path));
  int64_t saved = checkpoint_iteration(reader, path);
  for (int kind = 0; kind < FAULT_KINDS; kind++) {
    for (int forever = 0; forever < 2; forever++) {
      for (long n = 1;; n++) {
        step(t);
        int64_t now;
        sc_trainer_iteration(t, &now);
        arm(kind, n, forever);
        sc_status rc = sc_checkpoint_save(t, path);
        disarm();
        char message[1024];
        snprintf(message, sizeof message, "%s", sc_last_error());
        int64_t found = checkpoint_iteration(reader, path);
        CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "%s fault %ld: libhdf5 holds %zd objects",
              fault_names[kind], n, H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL));
        CHECK(temporaries_left() == 0, "%s fault %ld: a temporary file is left", fault_names[kind], n);
        if (faults->met == 0) {
          CHECK(rc == SC_OK && found == now, "no %s fault met: %s (%s), file at iteration %lld", fault_names[kind],
                sc_status_name(rc), message, (long long)found);
          saved = found;
          break;
        }
        counts[kind][forever]++;
        children_died += strstr(message, "the process building the file died") != NULL;
        if (rc == SC_OK) {
          CHECK(found == now, "%s fault %ld: SC_OK, but the file holds iteration %lld, not %lld",
                fault_names[kind], n, (long long)found, (long long)now);
        } else if (strstr(message, "cannot sync the folder")) {
          CHECK(rc == SC_ERR_IO && found == now, "%s fault %ld after the rename: the file holds iteration %lld",
                fault_names[kind], n, (long long)found);
        } else {
          CHECK(found == saved, "%s fault %ld (%s: %s): the file holds iteration %lld, the previous save %lld",
                fault_names[kind], n, sc_status_name(rc), message, (long long)found, (long long)saved);
          CHECK(rc == SC_ERR_IO || rc == SC_ERR_OUT_OF_MEMORY, "%s fault %ld: %s (%s)", fault_names[kind], n,
                sc_status_name(rc), message);
        }
        if (found >= 0) saved = found;
      }
    }
  }
}

/* The rows of a run file, read with libhdf5 directly; -1 when it cannot be read. */
static long run_rows(const char *path) {
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return -1;
  long rows = -1;
  hid_t dataset = H5Dopen2(file, "iterations/iteration", H5P_DEFAULT);
  if (dataset >= 0) {
    hid_t space = H5Dget_space(dataset);
    rows = (long)H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    H5Dclose(dataset);
  }
  H5Fclose(file);
  return rows;
}

static int counts_record[FAULT_KINDS][2];

static void sweep_records(sc_trainer *t, const char *path) {
  CHECK_OK(sc_trainer_record(t, path, "flush_every=100000"));
  step(t);
  CHECK_OK(sc_trainer_record(t, NULL, NULL));
  long rows = run_rows(path);
  CHECK(rows == 1, "the run file has %ld rows", rows);
  for (int kind = 0; kind < FAULT_KINDS; kind++) {
    for (int forever = 0; forever < 2; forever++) {
      for (long n = 1;; n++) {
        /* Continue the record (which reads the file), take a step, and stop: the stop writes it. */
        CHECK_OK(sc_trainer_record(t, path, "flush_every=100000 append=1"));
        step(t);
        arm(kind, n, forever);
        sc_status rc = sc_trainer_record(t, NULL, NULL);
        disarm();
        char message[1024];
        snprintf(message, sizeof message, "%s", sc_last_error());
        long found = run_rows(path);
        CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "record %s fault %ld: libhdf5 holds objects", fault_names[kind], n);
        CHECK(temporaries_left() == 0, "record %s fault %ld: a temporary file is left", fault_names[kind], n);
        if (faults->met == 0) {
          CHECK(rc == SC_OK && found == rows + 1, "no fault met: %s, %ld rows", sc_status_name(rc), found);
          rows = found;
          break;
        }
        counts_record[kind][forever]++;
        children_died += strstr(message, "the process building the file died") != NULL;
        if (rc == SC_OK || strstr(message, "cannot sync the folder")) {
          CHECK(found == rows + 1, "record %s fault %ld: %s, but the file has %ld rows, not %ld", fault_names[kind], n,
                sc_status_name(rc), found, rows + 1);
        } else {
          CHECK(found == rows, "record %s fault %ld (%s): the file has %ld rows, the previous %ld", fault_names[kind], n,
                message, found, rows);
        }
        /* A row lost with a failed write stays lost: the next append starts from the file. */
        if (found >= 0) rows = found;
      }
    }
  }
}

static void survive_hdf5_crashes(sc_trainer *t, sc_trainer *reader, const char *checkpoint, const char *run) {
  CHECK_OK(sc_checkpoint_save(t, checkpoint));
  int64_t before = -1, after = -1;
  sc_trainer_iteration(reader, &before);
  hdf5_crashes = 1;
  CHECK_FAILS(sc_checkpoint_load(reader, checkpoint), SC_ERR_FORMAT, "libhdf5 failed on it in a probe process (signal 11)");
  CHECK_FAILS(sc_trainer_record(t, run, "append=1"), SC_ERR_FORMAT, "libhdf5 failed on it in a probe process");
  sc_model *m = NULL;
  CHECK_FAILS(sc_model_create_from_checkpoint(checkpoint, &m), SC_ERR_FORMAT, "libhdf5 failed on it");
  hdf5_crashes = 0;
  sc_trainer_iteration(reader, &after);
  CHECK(before == after, "a refused load changed the iteration from %lld to %lld", (long long)before, (long long)after);
  CHECK_OK(sc_checkpoint_load(reader, checkpoint));
}

int main(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  dl_iterate_phdr(find_hdf5, NULL);
  CHECK(hdf5_text_end > hdf5_text_start, "libhdf5's code was not found among the loaded objects");
  faults = mmap(NULL, sizeof *faults, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (faults == MAP_FAILED) return 1;
  faults->armed = -1;
  snprintf(dir, sizeof dir, "/tmp/superconv-faults-%d", (int)getpid());
  mkdir(dir, 0755);
  char checkpoint[512], run[512];
  snprintf(checkpoint, sizeof checkpoint, "%s/ckpt.h5", dir);
  snprintf(run, sizeof run, "%s/run.h5", dir);

  sc_model *m = NULL, *m2 = NULL;
  sc_trainer *t = NULL, *reader = NULL;
  CHECK_OK(sc_model_create("depth=8 input=1x8x8 classes=3 seed=2", &m));
  CHECK_OK(sc_model_create("depth=8 input=1x8x8 classes=3 seed=2", &m2));
  CHECK_OK(sc_trainer_create(m, "optimizer=adam", &t));
  CHECK_OK(sc_trainer_create(m2, "optimizer=adam", &reader));
  CHECK_OK(sc_trainer_attach_lr_estimator(t, ""));
  CHECK_OK(sc_trainer_attach_lr_estimator(reader, ""));
  if (check_failed) return check_summary("test_faults");

  sweep_checkpoints(t, reader, checkpoint);
  sweep_records(t, run);
  survive_hdf5_crashes(t, reader, checkpoint, run);
  for (int kind = 0; kind < FAULT_KINDS; kind++) {
    printf("%-10s faults met: sc_checkpoint_save %d once, %d persistent; sc_trainer_record %d once, %d persistent\n",
           fault_names[kind], counts[kind][0], counts[kind][1], counts_record[kind][0], counts_record[kind][1]);
  }
  CHECK(counts[F_ALLOC][0] > 0 && counts_record[F_ALLOC][0] > 0, "no libhdf5 allocation was failed");
  printf("calls whose building child died (reported as errors, the previous file kept): %d\n", children_died);
  sc_trainer_destroy(reader); sc_trainer_destroy(t);
  sc_model_destroy(m2); sc_model_destroy(m);
  unlink(checkpoint); unlink(run); rmdir(dir);
  return check_summary("test_faults");
}
