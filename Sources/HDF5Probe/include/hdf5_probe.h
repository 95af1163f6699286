#ifndef SUPERCONV_HDF5_PROBE_H
#define SUPERCONV_HDF5_PROBE_H
#include <stddef.h>
#include <sys/types.h>

/* How a probe of an HDF5 file ended (sc_hdf5_probe). */
typedef enum sc_hdf5_probe_result {
  SC_PROBE_PASSED = 0,           /* libhdf5 walked and read the whole file without failing the process */
  SC_PROBE_EXTERNAL_LINK = 10,   /* a link names another file */
  SC_PROBE_EXTERNAL_STORAGE = 11,/* a dataset keeps its values in other files (external or virtual) */
  SC_PROBE_TOO_LARGE = 12,       /* libhdf5 ran out of the memory the file's size allows it */
  SC_PROBE_TOO_COMPLEX = 13,     /* more than 256 groups, 16 levels, names of 1024 bytes, or 64 unreadable links in a group */
  SC_PROBE_CRASHED = 20,         /* the child died: *detail is the signal, or 256 + its exit status */
  SC_PROBE_TIMED_OUT = 21,       /* the child was still running after the timeout, and was killed */
  SC_PROBE_NO_CHILD = 22         /* fork failed: *detail is errno */
} sc_hdf5_probe_result;

/* libhdf5 parses untrusted bytes with no guarantee that a damaged or crafted file cannot crash
   it (it has: SIGSEGV on a zeroed object header). So a file is first opened in a forked child,
   which visits every link, object and attribute (going on past the ones libhdf5 fails on, as a
   reader asking by name would), looks up the names the readers ask for, and reads every
   dataset of at most `max_dataset_bytes` bytes, as the reader later will; the reader goes on
   only when the child came through. The child's address space may grow by the file's size a
   few times, `max_dataset_bytes` and 256 MiB: libhdf5 trusts sizes declared in the file, so a
   walk that runs out of that memory means a declared size the file cannot hold. The child
   runs C and libhdf5 only (no Swift runtime) and leaves with _exit. The file is the `size` bytes at `image` when `image` is not NULL (opened with the core
   driver, nothing read from disk), else the file at `path`. */
sc_hdf5_probe_result sc_hdf5_probe(const char *path, const void *image, size_t size,
                                   unsigned long long max_dataset_bytes, int timeout_seconds, int *detail);
/* fork() for a child that runs libhdf5 on the host's behalf (sc_hdf5_probe's, and the one that
   builds a file's bytes, AtomicFile): in the child, the host's handlers of fatal signals are
   reset, no core file is written, an alarm ends it after `seconds` (its parent may have died),
   and SIGPIPE is ignored (a write to a parent that stopped reading fails instead). Returns
   what fork() returns. */
pid_t sc_fork_helper(unsigned seconds);

/* pipe2(ends, O_CLOEXEC), which Swift's Glibc module does not show. */
int sc_pipe_cloexec(int ends[2]);
#endif
