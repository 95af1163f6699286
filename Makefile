# superconv: build, test, demo and benchmarks. Every target installs what it is missing.
SHELL := /bin/bash
BUILD := .build/release
LIB := $(BUILD)/libsuperconv.so
CC ?= cc
CFLAGS := -O2 -std=c11 -Wall -Wextra -Werror -Iinclude
LDFLAGS := -L$(BUILD) -Wl,-rpath,$(abspath $(BUILD)) -lsuperconv -lm -lpthread
OUT := .build-c
APT_PACKAGES := libopenblas-dev libhdf5-dev pkg-config zlib1g-dev dataset-fashion-mnist
MPI_APT_PACKAGES := openmpi-bin libopenmpi-dev
# Open MPI refuses root unless told; CI runs as root on 2 cores, hence --oversubscribe.
MPI_AS_ROOT := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

.PHONY: all deps deps-mpi build test test-swift test-c test-mpi test-python test-install test-torch torch-venv torch-example install demo example bench bench-mpi reproduce report clean
.PHONY: fuzz fuzz-build test-sanitize

all: build

# Installs the system packages the build, the tests and the demo need, when any is missing; the
# MPI hosts' packages only for what runs them (the library itself never links MPI).
apt_install = @missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
deps:
	$(call apt_install,$(APT_PACKAGES))
deps-mpi:
	$(call apt_install,$(MPI_APT_PACKAGES))

# The library's SONAME is libsuperconv.so.1; the link beside it lets programs built against the
# build folder load it in place. The command is built as superconv-cli (SwiftPM product names
# are unique) and linked as superconv.
build: deps
	swift build -c release
	ln -sf libsuperconv.so $(BUILD)/libsuperconv.so.1
	ln -sf superconv-cli $(BUILD)/superconv

$(OUT)/%: Tests/c/%.c Tests/c/check.h Tests/c/tensors.h Tests/c/samples.h include/superconv.h build
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS)

# The fault-injection test defines libc's I/O calls itself, exported so that they stand in for
# libc's in the library too, and reads run files with libhdf5.
$(OUT)/test_faults: Tests/c/test_faults.c Tests/c/check.h include/superconv.h build
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $$(pkg-config --cflags hdf5) $< -o $@ $(LDFLAGS) -Wl,--export-dynamic $$(pkg-config --libs hdf5) -ldl

C_TESTS := $(OUT)/test_faults $(OUT)/test_training $(OUT)/test_precise_bn $(OUT)/test_errors $(OUT)/test_pytorch_parity $(OUT)/test_allocations $(OUT)/test_threads $(OUT)/test_schedules $(OUT)/test_foreign_loop $(OUT)/test_range_test $(OUT)/test_data $(OUT)/test_checkpoint $(OUT)/test_open_step

# The programs that train run again on the portable kernels (the fallback of CPUs without AVX2).
PORTABLE_C_TESTS := $(OUT)/test_training $(OUT)/test_pytorch_parity $(OUT)/test_allocations $(OUT)/test_threads

test-c: $(C_TESTS)
	@Tests/c/run.sh $(C_TESTS) SUPERCONV_ISA=portable $(PORTABLE_C_TESTS)

# Data-parallel training on two MPI ranks: the C test, then a diverging job, a rank killed
# mid-epoch and the job resumed.
$(OUT)/test_mpi: Tests/mpi/test_mpi.c Tests/c/check.h Tests/c/tensors.h include/superconv.h build deps-mpi
	@mkdir -p $(OUT)
	mpicc $(CFLAGS) -ITests/c $< -o $@ $(LDFLAGS)

$(OUT)/train_mpi: bindings/c/examples/train_mpi.c include/superconv.h build deps-mpi
	@mkdir -p $(OUT)
	mpicc $(CFLAGS) $< -o $@ $(LDFLAGS)

test-mpi: $(OUT)/test_mpi $(OUT)/train_mpi
	$(MPI_AS_ROOT) mpirun --oversubscribe -np 2 $(OUT)/test_mpi
	$(MPI_AS_ROOT) Tests/mpi/failures.sh $(OUT)/train_mpi --oversubscribe

test-swift: deps
	swift test -c release --scratch-path .build-test

# The Python tests need pytest, numpy, h5py, matplotlib and (with Open MPI) mpi4py; they are
# installed from PyPI when missing.
test-python: build deps-mpi
	@python3 -c "import pytest, numpy, h5py, matplotlib, mpi4py" 2>/dev/null || python3 -m pip install -q pytest numpy h5py matplotlib mpi4py
	python3 -m pytest -q Tests/python

test: test-swift test-c test-mpi test-install test-python

# superconv.torch with real PyTorch, which CI never installs: a throwaway virtual environment outside
# the repository (SUPERCONV_TORCH_VENV, default /tmp/superconv-torch-venv, shared with
# benchmarks/compare_pytorch), created with PyTorch, numpy and pytest when they are missing.
TORCH_VENV := $(or $(SUPERCONV_TORCH_VENV),/tmp/superconv-torch-venv)
torch-venv:
	@$(TORCH_VENV)/bin/python -c "import torch, numpy, pytest" 2>/dev/null || { echo "installing PyTorch into $(TORCH_VENV)"; \
	  python3 -m venv $(TORCH_VENV) && $(TORCH_VENV)/bin/pip install -q torch numpy pytest; }

test-torch: build torch-venv
	PYTHONPATH=bindings/python:Tests/fixtures $(TORCH_VENV)/bin/python -m pytest -q -p no:cacheprovider Tests/torch

# The PyTorch example: Fashion-MNIST with superconv's range test and one cycle (TORCH_EXAMPLE_ARGS).
torch-example: build torch-venv
	PYTHONPATH=bindings/python $(TORCH_VENV)/bin/python bindings/python/examples/torch_one_cycle.py $(TORCH_EXAMPLE_ARGS)

$(OUT)/train_fashion_mnist: bindings/c/examples/train_fashion_mnist.c include/superconv.h build
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS)

# The main job: range test, one cycle against piecewise constant, table and figures (runs/demo, not
# tracked; docs/demo holds the copies the README shows).
demo: build
	@python3 -c "import numpy, h5py, matplotlib" 2>/dev/null || python3 -m pip install -q numpy h5py matplotlib
	python3 bindings/python/examples/superconvergence.py $(DEMO_ARGS)

# The paper's experiments at this machine's scale (experiments/*.py, every run under 30 minutes), then
# REPRODUCTION.md from their run files; `make report` only rewrites REPRODUCTION.md.
EXPERIMENTS := e1_range_test e2_superconvergence e3_cycle_length e4_limited_data e5_bn_fraction e6_estimated_lr e7_optimizers e8_verdict e9_time_to_accuracy
reproduce: build
	@python3 -c "import numpy, h5py, matplotlib" 2>/dev/null || python3 -m pip install -q numpy h5py matplotlib
	for e in $(EXPERIMENTS); do python3 experiments/$$e.py || exit 1; done
	python3 experiments/report.py

report:
	python3 experiments/report.py

# The plain C training program.
example: $(OUT)/train_fashion_mnist
	$(OUT)/train_fashion_mnist $(EXAMPLE_ARGS)

$(OUT)/train_throughput: benchmarks/train_throughput.c include/superconv.h build
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS)

$(OUT)/loader_throughput: benchmarks/loader_throughput.c include/superconv.h build
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS)

# Needs nothing of the library: the machine's own 1 -> 2 thread ceiling, the peer of the scaling figures.
$(OUT)/parallel_ceiling: benchmarks/parallel_ceiling.c
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $< -o $@ -lpthread

bench: $(OUT)/train_throughput $(OUT)/loader_throughput $(OUT)/parallel_ceiling
	@echo "CPU:$$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); vector flags: $$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|avx512.*)$$' | sort | tr '\n' ' ')"
	@$(BUILD)/superconv info | grep -E "^(kernels|BLAS)"
	benchmarks/run_throughput.sh $(OUT)/train_throughput
	$(OUT)/loader_throughput
	@echo "1 -> 2 threads, a loop of independent multiply-adds (median, lowest, highest of 9): $$($(OUT)/parallel_ceiling 9)"

# The data-parallel step's costs on two ranks: the all-reduce of the gradients and a rank's compute.
$(OUT)/allreduce_time: benchmarks/allreduce_time.c include/superconv.h build deps-mpi
	@mkdir -p $(OUT)
	mpicc $(CFLAGS) $< -o $@ $(LDFLAGS)

bench-mpi: $(OUT)/allreduce_time
	$(MPI_AS_ROOT) mpirun --oversubscribe -np 2 $(OUT)/allreduce_time 64 11 20 56 110

# Installs the library (with its SONAME links), the header and superconv.pc under PREFIX.
PREFIX ?= /usr/local
# The version is written once, in the header's SC_VERSION_* and SC_ABI_VERSION lines.
header_define = $(shell sed -n 's/^.define SC_$(1) \([0-9]*\)$$/\1/p' include/superconv.h)
ABI := $(call header_define,ABI_VERSION)
VERSION := $(call header_define,VERSION_MAJOR).$(call header_define,VERSION_MINOR).$(call header_define,VERSION_PATCH)
install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libsuperconv.so.$(VERSION)
	ln -sf libsuperconv.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsuperconv.so.$(ABI)
	ln -sf libsuperconv.so.$(ABI) $(DESTDIR)$(PREFIX)/lib/libsuperconv.so
	install -m 644 include/superconv.h $(DESTDIR)$(PREFIX)/include/superconv.h
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/superconv-cli $(DESTDIR)$(PREFIX)/bin/superconv
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' bindings/c/superconv.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/superconv.pc

# Installs into a scratch prefix and builds the C example against that copy through pkg-config.
test-install: build
	@rm -rf $(OUT)/prefix && mkdir -p $(OUT)
	$(MAKE) --no-print-directory install PREFIX=$(abspath $(OUT)/prefix) >/dev/null
	PKG_CONFIG_PATH=$(abspath $(OUT)/prefix)/lib/pkgconfig $(CC) $(CFLAGS) bindings/c/examples/train_fashion_mnist.c \
	  -o $(OUT)/installed_example $$(PKG_CONFIG_PATH=$(abspath $(OUT)/prefix)/lib/pkgconfig pkg-config --cflags --libs superconv)
	@ldd $(OUT)/installed_example | grep -q "$(abspath $(OUT)/prefix)/lib/libsuperconv.so.$(ABI)" \
	  && echo "install: the example links the installed libsuperconv.so.$(ABI)" \
	  || { echo "install: the example does not link the installed copy"; exit 1; }
	cd $(OUT) && ./installed_example --depth 8 --train 512 --batch 64 --epochs 2 --max-lr 0.1 --checkpoint installed.h5 > installed.log \
	  && ./installed_example --depth 8 --train 512 --batch 64 --epochs 3 --max-lr 0.1 --checkpoint installed.h5 --resume 1 >> installed.log \
	  && grep -q "resumed from installed.h5 at iteration 16" installed.log && grep -q "^epoch 3 " installed.log \
	  && echo "install: the installed example trains, checkpoints and resumes"
	$(OUT)/prefix/bin/superconv info | grep -q "^BLAS .*OpenBLAS" && echo "install: the installed superconv command runs"

# Fuzzing (Tests/fuzz): the library built with AddressSanitizer (leaks included) and coverage
# for libFuzzer, and one harness per reader of untrusted bytes. `make fuzz FUZZ_SECONDS=600`
# fuzzes each harness that long, niced, from the committed seeds (Tests/fuzz/corpus/<harness>;
# what it finds goes to .build-fuzz/corpus, crashes to .build-fuzz/crash-*); it first replays
# the seeds and every past crash (Tests/fuzz/crashes/<harness>/, kept as regression inputs).
# The clang of the Swift toolchain has libFuzzer. Allocations too large to make return NULL, as
# they do without AddressSanitizer (libhdf5 asks for sizes read from damaged files, and copes);
# Tests/fuzz/lsan.supp and asan.supp hold libhdf5's own leaks and memory errors (leaks matched on
# whole stacks: libhdf5 has no frame pointers).
FUZZ_BUILD := .build-fuzz/release
FUZZERS := checkpoint run_record idx cifar hdf5_dataset normalization spec
FUZZ_SECONDS ?= 5
FUZZ_ENV := ASAN_OPTIONS=allocator_may_return_null=1:fast_unwind_on_malloc=0:suppressions=$(abspath Tests/fuzz/asan.supp) LSAN_OPTIONS=suppressions=$(abspath Tests/fuzz/lsan.supp)

fuzz-build: deps
	swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=address \
	  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xcc -fsanitize=address,fuzzer-no-link
	ln -sf libsuperconv.so $(FUZZ_BUILD)/libsuperconv.so.1

$(OUT)/fuzz_%: Tests/fuzz/fuzz_%.c Tests/fuzz/fuzz.h include/superconv.h fuzz-build
	@mkdir -p $(OUT)
	clang -g -O1 -fsanitize=fuzzer,address -fuse-ld=lld -Iinclude $< -o $@ -L$(FUZZ_BUILD) \
	  -Wl,-rpath,$(abspath $(FUZZ_BUILD)) -lsuperconv -lz

fuzz: $(FUZZERS:%=$(OUT)/fuzz_%)
	@for f in $(FUZZERS); do \
	  mkdir -p .build-fuzz/corpus/$$f; \
	  if ls Tests/fuzz/crashes/$$f/* >/dev/null 2>&1; then \
	    $(FUZZ_ENV) nice -n 10 $(OUT)/fuzz_$$f Tests/fuzz/crashes/$$f/* >.build-fuzz/$$f.replay.log 2>&1 \
	      || { tail -40 .build-fuzz/$$f.replay.log; echo "fuzz_$$f: a past crash is back"; exit 1; }; fi; \
	  $(FUZZ_ENV) nice -n 10 $(OUT)/fuzz_$$f .build-fuzz/corpus/$$f Tests/fuzz/corpus/$$f -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 -artifact_prefix=.build-fuzz/$$f- >.build-fuzz/$$f.log 2>&1 \
	    || { tail -60 .build-fuzz/$$f.log; echo "fuzz_$$f: FAILED (input in .build-fuzz/$$f-*)"; exit 1; }; \
	  echo "fuzz_$$f: $$(sed -n 's/^stat::number_of_executed_units: *//p' .build-fuzz/$$f.log | tail -1) executions in $(FUZZ_SECONDS) s, no crash, no leak"; \
	done

# The C tests under AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer, against the
# library of fuzz-build (AddressSanitizer; Swift traps its own overflows), then ThreadSanitizer
# over the Swift tests of the worker pool and the loader and over the C test of concurrent
# handles and interrupts, against a library built with it. test_faults stands in for libc's
# I/O calls, which the sanitizers' runtimes intercept too, so it runs in `make test` only.
# The toolchain's ThreadSanitizer runtime intercepts libdispatch, which it then needs linked;
# test_threads forks after starting threads, which ThreadSanitizer allows only when told.
SWIFT_RUNTIME = $(abspath $(dir $(realpath $(shell command -v swift)))../lib/swift/linux)
SANITIZE_C_TESTS := test_errors test_checkpoint test_data test_schedules test_range_test test_precise_bn test_foreign_loop test_threads
test-sanitize: fuzz-build
	@mkdir -p $(OUT)/asan
	@for t in $(SANITIZE_C_TESTS); do \
	  clang -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld -Iinclude Tests/c/$$t.c \
	    -o $(OUT)/asan/$$t -L$(FUZZ_BUILD) -Wl,-rpath,$(abspath $(FUZZ_BUILD)) -lsuperconv -lm -lpthread || exit 1; \
	done
	Tests/c/run.sh ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=0 \
	  LSAN_OPTIONS=suppressions=$(abspath Tests/fuzz/lsan.supp) $(SANITIZE_C_TESTS:%=$(OUT)/asan/%)
	swift build -c release --scratch-path .build-tsan -Xswiftc -sanitize=thread -Xcc -fsanitize=thread
	ln -sf libsuperconv.so .build-tsan/release/libsuperconv.so.1
	clang -g -O1 -fsanitize=thread -fuse-ld=lld -Iinclude Tests/c/test_threads.c -o $(OUT)/test_threads_tsan \
	  -L.build-tsan/release -Wl,-rpath,$(abspath .build-tsan/release) -lsuperconv -lm -lpthread \
	  -L$(SWIFT_RUNTIME) -Wl,-rpath,$(SWIFT_RUNTIME) -ldispatch -lBlocksRuntime
	Tests/c/run.sh TSAN_OPTIONS=die_after_fork=0:suppressions=$(abspath Tests/c/tsan.supp) $(OUT)/test_threads_tsan
	TSAN_OPTIONS=suppressions=$(abspath Tests/c/tsan.supp) swift test -c release --scratch-path .build-tsan -Xswiftc -sanitize=thread -Xcc -fsanitize=thread \
	  --filter 'ParallelForTests|LoaderTests'

clean:
	rm -rf .build .build-test .build-fuzz .build-tsan $(OUT)
