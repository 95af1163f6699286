#include "hdf5_probe.h"
#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct walk {
  unsigned long long max_bytes;
  int result;
};

static void read_attribute(hid_t attribute, const struct walk *walk) {
  hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
  hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  size_t size = type >= 0 ? H5Tget_size(type) : 0;
  if (points > 0 && size > 0 && (unsigned long long)points * size <= walk->max_bytes) {
    void *buffer = malloc((size_t)points * size);
    if (buffer) H5Aread(attribute, type, buffer);  /* variable-length data leaks here: the child exits */
    free(buffer);
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
}

static herr_t visit_attribute(hid_t location, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  hid_t attribute = H5Aopen(location, name, H5P_DEFAULT);
  if (attribute >= 0) {
    read_attribute(attribute, data);
    H5Aclose(attribute);
  }
  return 0;
}

static int read_dataset(hid_t dataset, struct walk *walk) {
  hid_t plist = H5Dget_create_plist(dataset);
  if (plist >= 0) {
    int external = H5Pget_external_count(plist) > 0 || H5Pget_layout(plist) == H5D_VIRTUAL;
    H5Pclose(plist);
    if (external) {
      walk->result = SC_PROBE_EXTERNAL_STORAGE;
      return 1;
    }
  }
  hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
  hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  size_t size = type >= 0 ? H5Tget_size(type) : 0;
  if (points > 0 && size > 0 && (unsigned long long)points * size <= walk->max_bytes) {
    void *buffer = malloc((size_t)points * size);
    if (buffer) H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
    free(buffer);
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return 0;
}

/* The attribute names the library looks up (HDF5File.attribute, the datasets' "crc32"): a
   lookup by name takes other paths through libhdf5 than iteration. The child repeats the
   reader's calls in its order as far as it can, but not its exact sequence, so a fault that
   depends on libhdf5's cache state can still reach the reader (README, Reliability). */
static const char *const looked_up[] = {"crc32", "format", "format_version", "model_spec", "trainer_spec",
                                        "schedule_spec", "estimator_spec", "loader_spec"};

static void visit_attributes(hid_t object, struct walk *walk) {
  H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, visit_attribute, walk);
  for (size_t i = 0; i < sizeof looked_up / sizeof looked_up[0]; i++) {
    if (H5Aexists(object, looked_up[i]) > 0) {
      hid_t attribute = H5Aopen(object, looked_up[i], H5P_DEFAULT);
      if (attribute >= 0) {
        read_attribute(attribute, walk);
        H5Aclose(attribute);
      }
    }
  }
}

static herr_t visit_object(hid_t root, const char *name, const H5O_info_t *info, void *data) {
  struct walk *walk = data;
  hid_t object = H5Oopen(root, name, H5P_DEFAULT);
  if (object < 0) return 0;
  /* In the readers' order: a dataset's values, then its attributes (the checksum). */
  int stop = info->type == H5O_TYPE_DATASET && read_dataset(object, walk);
  if (!stop) visit_attributes(object, walk);
  H5Oclose(object);
  return stop;
}

static herr_t visit_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  if (info->type != H5L_TYPE_HARD && info->type != H5L_TYPE_SOFT) {
    ((struct walk *)data)->result = SC_PROBE_EXTERNAL_LINK;
    return 1;
  }
  H5Lexists(group, name, H5P_DEFAULT);  /* as HDF5File.exists asks, component by component */
  return 0;
}

static int walk_file(const char *path, const void *image, size_t size, unsigned long long max_bytes) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t access = H5Pcreate(H5P_FILE_ACCESS);
  if (image) {
    H5Pset_fapl_core(access, 1 << 16, 0);
    H5Pset_file_image(access, (void *)image, size);
  }
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, access);
  H5Pclose(access);
  struct walk walk = {max_bytes, SC_PROBE_PASSED};
  if (file < 0) return SC_PROBE_PASSED;  /* the reader reports the failure to open */
  H5Lvisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit_link, &walk);
  if (walk.result == SC_PROBE_PASSED) {
    hid_t root = H5Oopen(file, "/", H5P_DEFAULT);
    if (root >= 0) {
      visit_attributes(root, &walk);
      H5Oclose(root);
    }
    H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit_object, &walk, H5O_INFO_BASIC);
  }
  return walk.result;
}

sc_hdf5_probe_result sc_hdf5_probe(const char *path, const void *image, size_t size,
                                   unsigned long long max_dataset_bytes, int timeout_seconds, int *detail) {
  *detail = 0;
  pid_t child = fork();
  if (child < 0) {
    *detail = errno;
    return SC_PROBE_NO_CHILD;
  }
  if (child == 0) {
    /* The host's handlers (a Python faulthandler, a crash reporter) must not run here. */
    const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    /* A child whose parent died while waiting (killed, or a fuzzer's timeout) must not loop on. */
    signal(SIGALRM, SIG_DFL);
    alarm((unsigned)timeout_seconds + 2);
    _exit(walk_file(path, image, size, max_dataset_bytes));
  }
  struct timespec pause = {0, 1000000};
  long waited_ms = 0;
  for (;;) {
    int status = 0;
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) {
      if (WIFSIGNALED(status)) {
        *detail = WTERMSIG(status);
        return SC_PROBE_CRASHED;
      }
      int code = WEXITSTATUS(status);
      if (code == SC_PROBE_PASSED || code == SC_PROBE_EXTERNAL_LINK || code == SC_PROBE_EXTERNAL_STORAGE) return code;
      *detail = 256 + code;
      return SC_PROBE_CRASHED;
    }
    if (done < 0 && errno != EINTR) {
      *detail = errno;
      return SC_PROBE_NO_CHILD;
    }
    if (waited_ms >= (long)timeout_seconds * 1000) {
      kill(child, SIGKILL);
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
      return SC_PROBE_TIMED_OUT;
    }
    nanosleep(&pause, NULL);
    waited_ms += pause.tv_nsec / 1000000;
    if (pause.tv_nsec < 64000000) pause.tv_nsec *= 2;
  }
}
