/* Shared by the libFuzzer harnesses (Tests/fuzz/fuzz_*.c, run by `make fuzz`): each hands its
   input to one reader of libsuperconv as a host would, through a file when the reader takes a
   path. Any status is an acceptable answer; a crash, a hang, a leak or a sanitizer report is a
   finding. */
#ifndef SUPERCONV_FUZZ_H
#define SUPERCONV_FUZZ_H
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <superconv.h>

/* The harnesses' long-lived handles, destroyed at exit before LeakSanitizer looks: it cannot
   see every pointer inside Swift objects (multi-payload enums keep tag bits in them), so it
   reports what live handles hold as leaked. */
static void *fuzz_handles[4];
static void (*fuzz_destroyers[4])(void *);
static int fuzz_handle_count;
static void fuzz_destroy_handles(void) {
  while (fuzz_handle_count > 0) { fuzz_handle_count--; fuzz_destroyers[fuzz_handle_count](fuzz_handles[fuzz_handle_count]); }
}
#define FUZZ_KEEP(handle, destroy) do { if (fuzz_handle_count == 0) atexit(fuzz_destroy_handles); \
    fuzz_handles[fuzz_handle_count] = (handle); fuzz_destroyers[fuzz_handle_count++] = (void (*)(void *))(destroy); } while (0)

/* A folder of this process's own, in memory when /dev/shm exists, removed at exit. */
static char fuzz_folder[128];
static void fuzz_remove_folder(void) {
  DIR *d = opendir(fuzz_folder);
  char path[400];
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", fuzz_folder, e->d_name);
    unlink(path);
  }
  if (d) closedir(d);
  rmdir(fuzz_folder);
}
static const char *fuzz_dir(void) {
  if (!fuzz_folder[0]) {
    snprintf(fuzz_folder, sizeof fuzz_folder, "%s/superconv-fuzz-%d", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
    mkdir(fuzz_folder, 0700);
    atexit(fuzz_remove_folder);
  }
  return fuzz_folder;
}

/* Writes `size` bytes to `name` in the folder and returns its path (static storage per name slot). */
static const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
  static char paths[4][256];
  static int next;
  char *path = paths[next++ % 4];
  snprintf(path, 256, "%s/%s", fuzz_dir(), name);
  FILE *f = fopen(path, "wb");
  if (f) {
    if (size) fwrite(data, 1, size, f);
    fclose(f);
  }
  return path;
}

/* A copy of an HDF5 file written by the library whose whole-file checksum line is made valid
   for its (mutated) bytes, so that mutations reach libhdf5 and the checks behind the checksum
   rather than stopping at it. Inputs without the line are copied as they are. */
static uint8_t *fuzz_resealed(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (size) memcpy(copy, data, size);
  static const char tag[] = "superconv-crc32 ";
  if (size >= 512 && memcmp(copy, tag, sizeof tag - 1) == 0) {
    char line[64];
    int n = snprintf(line, sizeof line, "%s%08lx %zu\n", tag, crc32(0, copy + 512, (uInt)(size - 512)), size - 512);
    memset(copy, 0, 512);
    memcpy(copy, line, (size_t)n);
  }
  return copy;
}
#endif
