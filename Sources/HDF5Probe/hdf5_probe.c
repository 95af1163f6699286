#define _GNU_SOURCE
#include "hdf5_probe.h"
#include <fcntl.h>
#include <errno.h>
#include <hdf5.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct walk {
  unsigned long long max_bytes;
  int result;
  haddr_t groups[256];  /* addresses of the groups walked, against cycles of hard links */
  int group_count;
};

static herr_t find_allocation_failure(unsigned n, const H5E_error2_t *error, void *data) {
  (void)n;
  if (error->min_num == H5E_CANTALLOC || error->min_num == H5E_NOSPACE) {
    ((struct walk *)data)->result = SC_PROBE_TOO_LARGE;
    return 1;
  }
  return 0;
}

/* Whether a libhdf5 call failed; a failure for want of memory (the child's address space is
   capped, sc_hdf5_probe) means the file declares a structure larger than it can hold. */
static int failed(long long status, struct walk *walk) {
  if (status >= 0) return 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_allocation_failure, walk);
  return 1;
}

static void read_attribute(hid_t attribute, struct walk *walk) {
  hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
  hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  size_t size = type >= 0 ? H5Tget_size(type) : 0;
  size_t bytes;
  if (points > 0 && size > 0 && !__builtin_mul_overflow((size_t)points, size, &bytes) && bytes <= walk->max_bytes) {
    void *buffer = malloc(bytes);
    if (!buffer) walk->result = SC_PROBE_TOO_LARGE;
    else failed(H5Aread(attribute, type, buffer), walk);  /* variable-length data leaks here: the child exits */
    free(buffer);
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
}

static herr_t visit_attribute(hid_t location, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  hid_t attribute = H5Aopen(location, name, H5P_DEFAULT);
  if (!failed(attribute, data)) {
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
  size_t bytes;
  if (points > 0 && size > 0 && !__builtin_mul_overflow((size_t)points, size, &bytes) && bytes <= walk->max_bytes) {
    void *buffer = malloc(bytes);
    if (!buffer) walk->result = SC_PROBE_TOO_LARGE;
    else failed(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer), walk);
    free(buffer);
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return walk->result != SC_PROBE_PASSED;
}

/* The attribute names the library looks up (HDF5File.attribute, the datasets' "crc32"): a
   lookup by name takes other paths through libhdf5 than iteration. */
static const char *const looked_up[] = {"crc32", "format", "format_version", "model_spec", "trainer_spec",
                                        "schedule_spec", "estimator_spec", "loader_spec"};

static void visit_attributes(hid_t object, struct walk *walk) {
  failed(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, visit_attribute, walk), walk);
  for (size_t i = 0; i < sizeof looked_up / sizeof looked_up[0] && walk->result == SC_PROBE_PASSED; i++) {
    htri_t exists = H5Aexists(object, looked_up[i]);
    if (failed(exists, walk) || !exists) continue;
    hid_t attribute = H5Aopen(object, looked_up[i], H5P_DEFAULT);
    if (!failed(attribute, walk)) {
      read_attribute(attribute, walk);
      H5Aclose(attribute);
    }
  }
}

/* As HDF5File.exists asks: H5Lexists on each leading part of an absolute path, in turn. */
static int exists(hid_t file, const char *path, struct walk *walk) {
  char prefix[1024];
  size_t length = strlen(path);
  if (length >= sizeof prefix) {
    walk->result = SC_PROBE_TOO_COMPLEX;
    return 0;
  }
  for (size_t end = 1; end <= length; end++) {
    if (end < length && path[end] != '/') continue;
    memcpy(prefix, path, end);
    prefix[end] = 0;
    htri_t found = H5Lexists(file, prefix, H5P_DEFAULT);
    if (failed(found, walk) || !found) return 0;
  }
  return 1;
}

/* Paths the readers look up whether or not they exist (RunRecorder, Checkpoint): the lookup of
   a missing name takes libhdf5 through the group's index as far as a present one. */
static const char *const looked_up_paths[] = {
    "/iterations/iteration", "/iterations/lr", "/iterations/momentum", "/iterations/loss", "/iterations/accuracy",
    "/iterations/time", "/iterations/lr_estimate", "/iterations/lr_estimate_smoothed", "/evaluations/iteration",
    "/evaluations/loss", "/evaluations/accuracy", "/evaluations/time", "/normalization/mean",
    "/normalization/inverse_std"};

static void walk_group(hid_t file, const char *path, int depth, struct walk *walk);

/* One link of the group at `path`: refused when it leads to another file; else looked up by its
   absolute path as the readers do, and the object behind it walked. */
static void walk_link(hid_t file, const char *path, int depth, struct walk *walk) {
  H5L_info_t link;
  if (failed(H5Lget_info(file, path, &link, H5P_DEFAULT), walk)) return;
  if (link.type != H5L_TYPE_HARD && link.type != H5L_TYPE_SOFT) {
    walk->result = SC_PROBE_EXTERNAL_LINK;
    return;
  }
  if (!exists(file, path, walk)) return;
  H5O_info_t info;
  if (failed(H5Oget_info_by_name2(file, path, &info, H5O_INFO_BASIC, H5P_DEFAULT), walk)) return;
  if (info.type == H5O_TYPE_GROUP) {
    for (int i = 0; i < walk->group_count; i++)
      if (walk->groups[i] == info.addr) return;
    if (walk->group_count == (int)(sizeof walk->groups / sizeof walk->groups[0]) || depth >= 16) {
      walk->result = SC_PROBE_TOO_COMPLEX;
      return;
    }
    walk->groups[walk->group_count++] = info.addr;
    walk_group(file, path, depth + 1, walk);
    return;
  }
  hid_t object = H5Oopen(file, path, H5P_DEFAULT);
  if (failed(object, walk)) return;
  /* In the readers' order: a dataset's values, then its attributes (the checksum). */
  if (info.type != H5O_TYPE_DATASET || !read_dataset(object, walk)) visit_attributes(object, walk);
  H5Oclose(object);
}

/* Every link of the group, by index: a link libhdf5 fails on does not end the walk (as
   H5Lvisit's would), so the links after it are looked at too, as a reader asking for them by
   name would. */
static void walk_group(hid_t file, const char *path, int depth, struct walk *walk) {
  hid_t group = H5Oopen(file, path, H5P_DEFAULT);
  if (failed(group, walk)) return;
  visit_attributes(group, walk);
  H5G_info_t info;
  if (!failed(H5Gget_info(group, &info), walk)) {
    int failures = 0;
    for (hsize_t i = 0; i < info.nlinks && walk->result == SC_PROBE_PASSED; i++) {
      char name[1024], child[2048];
      ssize_t length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_NATIVE, i, name, sizeof name, H5P_DEFAULT);
      if (failed(length, walk) || length == 0) {
        /* A link count read from a damaged file can be anything: give up on the file. */
        if (++failures == 64) walk->result = SC_PROBE_TOO_COMPLEX;
        continue;
      }
      if ((size_t)length >= sizeof name) {
        walk->result = SC_PROBE_TOO_COMPLEX;
        continue;
      }
      snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") == 0 ? "" : path, name);
      walk_link(file, child, depth, walk);
    }
  }
  H5Oclose(group);
}

static int walk_file(const char *path, const void *image, size_t size, unsigned long long max_bytes) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t access = H5Pcreate(H5P_FILE_ACCESS);
  if (image) {
    H5Pset_fapl_core(access, 1 << 16, 0);
    H5Pset_file_image(access, (void *)image, size);
  }
  struct walk walk = {max_bytes, SC_PROBE_PASSED, {0}, 0};
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, access);
  H5Pclose(access);
  if (failed(file, &walk)) return walk.result;  /* else the reader reports the failure to open */
  walk_group(file, "/", 0, &walk);
  for (size_t i = 0; i < sizeof looked_up_paths / sizeof looked_up_paths[0] && walk.result == SC_PROBE_PASSED; i++) {
    if (exists(file, looked_up_paths[i], &walk)) walk_link(file, looked_up_paths[i], 1, &walk);
  }
  return walk.result;
}

/* The most address space the child may add to the host's: libhdf5's caches, the file's copies
   (the image, the core driver's), the largest dataset read, and room to spare. A file whose
   walk needs more declares sizes it cannot hold (fuzzing found a 9.7 KB run file whose local
   heap asks for 4 GiB). */
static void cap_address_space(const char *path, size_t size, unsigned long long max_bytes) {
  struct stat status;
  unsigned long long file_bytes = size ? size : (stat(path, &status) == 0 ? (unsigned long long)status.st_size : 0);
  unsigned long long pages = 0;
  FILE *statm = fopen("/proc/self/statm", "r");
  if (!statm) return;
  int read = fscanf(statm, "%llu", &pages);
  fclose(statm);
  if (read != 1) return;
  unsigned long long used = pages * (unsigned long long)sysconf(_SC_PAGESIZE);
  unsigned long long allowed = used + (256ull << 20) + 3 * file_bytes + max_bytes;
  struct rlimit limit = {allowed, allowed};
  setrlimit(RLIMIT_AS, &limit);
}

pid_t sc_fork_helper(unsigned seconds) {
  pid_t child = fork();
  if (child == 0) {
    /* The host's handlers (a Python faulthandler, a crash reporter) must not run here. */
    const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    /* A child whose parent died while waiting (killed, or a fuzzer's timeout) must not loop on,
       even when the forking thread had SIGALRM blocked. */
    signal(SIGALRM, SIG_DFL);
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alarm_only, NULL);
    alarm(seconds);
    /* A parent that stopped reading gets its own error reported, not the child's SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
  }
  return child;
}

int sc_pipe_cloexec(int ends[2]) { return pipe2(ends, O_CLOEXEC); }

sc_hdf5_probe_result sc_hdf5_probe(const char *path, const void *image, size_t size,
                                   unsigned long long max_dataset_bytes, int timeout_seconds, int *detail) {
  *detail = 0;
  pid_t child = sc_fork_helper((unsigned)timeout_seconds + 2);
  if (child < 0) {
    *detail = errno;
    return SC_PROBE_NO_CHILD;
  }
  if (child == 0) {
    cap_address_space(path, image ? size : 0, max_dataset_bytes);
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
      if (code == SC_PROBE_PASSED || code == SC_PROBE_EXTERNAL_LINK || code == SC_PROBE_EXTERNAL_STORAGE ||
          code == SC_PROBE_TOO_LARGE || code == SC_PROBE_TOO_COMPLEX)
        return code;
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
