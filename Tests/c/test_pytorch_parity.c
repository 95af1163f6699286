/* Specification: with the same weights, set by name through sc_model_param_set, superconv's
   networks give PyTorch's eval-mode logits to 1e-4 relative tolerance. The fixtures come from
   Tests/fixtures/make_pytorch_fixtures.py, which defines the networks in PyTorch. */
#include <math.h>
#include <stdlib.h>
#include "check.h"

#ifndef FIXTURES
#define FIXTURES "Tests/fixtures"
#endif

typedef struct {
  char name[128];
  int64_t count;
  float *data;
} record;

/* Reads a fixture; returns the number of records (0 on any format error). */
static int read_fixture(const char *path, record *records, int capacity) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", path); return 0; }
  char magic[4];
  uint32_t version = 0, count = 0;
  int ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "SCFX", 4) == 0 &&
           fread(&version, 4, 1, f) == 1 && version == 1 && fread(&count, 4, 1, f) == 1 &&
           count <= (uint32_t)capacity;
  for (uint32_t i = 0; ok && i < count; i++) {
    uint32_t len = 0, rank = 0;
    int64_t dims[4], n = 1;
    ok = fread(&len, 4, 1, f) == 1 && len < sizeof records[i].name &&
         fread(records[i].name, 1, len, f) == len && fread(&rank, 4, 1, f) == 1 && rank <= 4 &&
         fread(dims, 8, rank, f) == rank;
    if (!ok) break;
    records[i].name[len] = 0;
    for (uint32_t d = 0; d < rank; d++) n *= dims[d];
    records[i].count = n;
    records[i].data = malloc(sizeof(float) * n);
    ok = fread(records[i].data, sizeof(float), n, f) == (size_t)n;
  }
  fclose(f);
  return ok ? (int)count : 0;
}

static const record *find(const record *records, int count, const char *name) {
  for (int i = 0; i < count; i++) if (strcmp(records[i].name, name) == 0) return &records[i];
  return NULL;
}

static void parity(const char *file, const char *spec) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", FIXTURES, file);
  record records[256];
  int count = read_fixture(path, records, 256);
  CHECK(count > 0, "fixture %s unreadable", path);
  if (count == 0) return;

  sc_model *m = NULL;
  CHECK_OK(sc_model_create(spec, &m));
  int64_t tensors = 0;
  CHECK_OK(sc_model_param_count(m, &tensors));
  CHECK(tensors == count - 2, "%s: model has %lld named tensors, fixture %d", file, (long long)tensors, count - 2);
  for (int64_t i = 0; i < tensors; i++) {
    const char *name = NULL;
    int64_t shape[4];
    CHECK_OK(sc_model_param_info(m, i, &name, NULL, shape));
    const record *r = find(records, count, name);
    CHECK(r != NULL, "%s: PyTorch has no tensor named %s", file, name);
    if (!r) continue;
    CHECK(r->count == shape[0] * shape[1] * shape[2] * shape[3], "%s: %s sizes differ", file, name);
    CHECK_OK(sc_model_param_set(m, name, r->data, r->count));
  }

  const record *x = find(records, count, "input"), *expected = find(records, count, "logits");
  CHECK(x && expected, "fixture lacks input or logits");
  if (x && expected) {
    int64_t n = x->count / (3 * 32 * 32);
    float *logits = malloc(sizeof(float) * expected->count);
    CHECK_OK(sc_model_forward(m, x->data, n, logits, expected->count));
    double worst = 0;
    for (int64_t i = 0; i < expected->count; i++) {
      double a = logits[i], b = expected->data[i];
      double excess = fabs(a - b) - (1e-5 + 1e-4 * fabs(b));
      if (excess > worst) worst = excess;
      CHECK(excess <= 0, "%s: logit %lld is %.7g, PyTorch %.7g", file, (long long)i, a, b);
    }
    printf("%s: %lld logits match PyTorch (|a-b| <= 1e-5 + 1e-4|b|)\n", file, (long long)expected->count);
    free(logits);
  }
  sc_model_destroy(m);
  for (int i = 0; i < count; i++) free(records[i].data);
}

int main(void) {
  parity("resnet20_he_a.bin", "depth=20 variant=he-a input=3x32x32 classes=10");
  parity("resnet8_caffe.bin", "depth=8 variant=caffe input=3x32x32 classes=10");
  return check_summary("test_pytorch_parity");
}
