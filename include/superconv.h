/*
 * superconv.h — the C interface of libsuperconv, the reference for every function.
 *
 * superconv trains CIFAR-style residual networks with super-convergence (Smith & Topin 2017,
 * arXiv 1708.07120): one cycle of a large cyclical learning rate, the learning-rate range test
 * and the paper's secant estimate of the optimal learning rate. The library is written in
 * Swift; this header is its whole public surface.
 *
 * A WORKED EXAMPLE
 *
 *   #include <stdio.h>
 *   #include <superconv.h>
 *
 *   int train(const float *x, const int32_t *labels, int64_t n) {   // n samples, 3x32x32 each
 *       sc_model *model = NULL;
 *       sc_trainer *trainer = NULL;
 *       sc_status rc = sc_model_create("depth=20 variant=caffe classes=10 seed=1", &model);
 *       if (rc == SC_OK) rc = sc_trainer_create(model, "lr=0.1 momentum=0.9 weight_decay=1e-4", &trainer);
 *       for (int epoch = 0; rc == SC_OK && epoch < 10; epoch++) {
 *           for (int64_t i = 0; rc == SC_OK && i + 128 <= n; i += 128) {
 *               float loss; int64_t correct;
 *               rc = sc_trainer_step(trainer, x + i * 3 * 32 * 32, labels + i, 128, &loss, &correct);
 *           }
 *       }
 *       if (rc != SC_OK) fprintf(stderr, "%s: %s\n", sc_status_name(rc), sc_last_error());
 *       sc_trainer_destroy(trainer);     // destroy the trainer before its model
 *       sc_model_destroy(model);
 *       return rc == SC_OK ? 0 : 1;
 *   }
 *
 *   cc train.c -I include -L .build/release -lsuperconv
 *
 * CONVENTIONS
 *
 * Status.  Every fallible function returns an sc_status; SC_OK is 0. On failure,
 *   sc_last_error() returns a message naming the function, the argument, and the expected and
 *   actual values, e.g. "sc_model_param_get: 'fc.bias' has 10 floats, len is 9".
 *
 * Nothing is lost on failure.  A failed call changes no handle: weights, statistics,
 *   optimizer state and iteration counters are as they were. Output handles (`**out`) are set to
 *   NULL on failure; other outputs are left unspecified.
 *
 * No aborts.  No input makes the library abort or crash the host process: NULL pointers, wrong
 *   lengths, bad specs, destroyed handles and non-finite numbers all return a status. (A pointer
 *   to a buffer shorter than its stated length cannot be detected; that remains the caller's
 *   responsibility, as with memcpy.)
 *
 * Handles.  Opaque handles are created by sc_<object>_create and released by
 *   sc_<object>_destroy, which accepts NULL and ignores pointers that are not live handles.
 *   Every call checks its handle against the set of live handles before using it, so a
 *   destroyed or foreign pointer gives SC_ERR_INVALID_ARGUMENT rather than undefined behaviour.
 *
 * Specs.  Objects are configured by spec strings of key=value pairs separated by spaces,
 *   e.g. "depth=56 variant=caffe input=3x32x32". NULL or "" means all defaults. Unknown keys,
 *   repeated keys and out-of-range values are SC_ERR_INVALID_ARGUMENT, and the message names
 *   the key (and lists the valid keys). sc_<object>_spec returns the normalised spec: every key,
 *   defaults filled in, in a fixed order. New options arrive as new keys, never as new
 *   signatures. Each create function lists its keys under "Spec keys and defaults:", one
 *   key=default a line, indented five spaces, with its meaning after it (where a key such as
 *   policy= selects a variant, the line lists that variant's keys); a test holds these tables to
 *   the library's schemas.
 *
 * Buffers.  The caller owns every buffer it passes; the library copies what it keeps and never
 *   retains a caller's pointer past the call. Each buffer comes with its length in elements,
 *   which is checked (SC_ERR_SHAPE when it differs). Strings returned by the library are owned
 *   by the library; their lifetime is stated per function.
 *
 * Data layout.  float32 samples in NCHW order (sample, channel, row, column); labels int32 in
 *   [0, classes). Convolution weights are OIHW, linear weights [out, in].
 *
 * Threads.  A handle must be used by one thread at a time (the exception: sc_trainer_interrupt);
 *   different handles may be used from different threads in parallel. A trainer uses its model, so a model and its trainers count
 *   as one. The library computes with sc_get_num_threads() threads of its own pool;
 *   see sc_set_num_threads. sc_last_error() is per thread. libhdf5 is not thread-safe as
 *   distributions build it, so the library's own use of it (saving, loading, recording, reading
 *   HDF5 data sets) is serialised: file calls from several threads are safe but take turns. A
 *   host that calls libhdf5 itself from another thread at the same time is not protected.
 *
 * Determinism.  The same specs, seed and inputs give bit-identical results, whatever the thread
 *   count: work is shared out among threads, but every sum is split the same way.
 *
 * Files.  Files are checked before they are trusted. Every size a file declares is compared
 *   with what the file can hold before anything is allocated (a data set holds at most 4 GiB of
 *   values and an HDF5 file read whole, checkpoints and run files, at most 4 GiB). The HDF5 files
 *   the library writes start with a 512-byte user block holding a CRC-32 of the rest of the file
 *   ("superconv-crc32 <hex> <bytes>"; HDF5 and h5py skip it), and every dataset carries its own
 *   CRC-32: damage anywhere is SC_ERR_FORMAT, never loaded. Before libhdf5 reads an HDF5 file
 *   in the process, a child process forked for the purpose opens it, visits every object and
 *   reads every dataset: libhdf5 can crash on a crafted or damaged file, and then the child
 *   dies, not the host (SC_ERR_FORMAT naming the signal). libhdf5 also allocates what a file's
 *   structures declare before it reads them, so the child's memory is capped by the file's size
 *   (a few times it, plus 256 MiB): a file whose structures need more is SC_ERR_FORMAT, and the
 *   host never makes that allocation. A file with links to other files
 *   (external links) or values kept in other files (external or virtual storage) is refused.
 *   Files are built whole in memory by libhdf5 in a forked child process (libhdf5 1.10 does not
 *   survive running out of memory; the child does that for the host), then written to a
 *   temporary file beside the target with every system call checked, read back, renamed over
 *   the target, the folder synced: a failure leaves the previous file intact
 *   (Tests/c/test_faults.c fails each system call and each libhdf5 allocation in turn). When
 *   no child can be forked, the file is built in the process. A save target that exists and is
 *   not a regular file is refused.
 *
 * fork().  A child process forked after the library has started its threads may go on using
 *   every handle it inherited: the worker pool and loader threads are started afresh in the
 *   child (the parent's are not there), with the same results. The library forks children of
 *   its own (probes, file building): they run only the library's code and libhdf5 and leave
 *   with _exit, so the host's exit handlers never run in them; fork() runs the host's atfork
 *   handlers as for any fork. The library's libhdf5 lock is held across every fork.
 */
#ifndef SUPERCONV_H
#define SUPERCONV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one place the version is written: Package.swift and the Makefile read these lines, and
   the tests fail when a copy (sc_version(), sc_abi_version(), the Python package's) differs. */
#define SC_VERSION_MAJOR 0
#define SC_VERSION_MINOR 1
#define SC_VERSION_PATCH 0
/* Changes whenever a declaration in this header changes incompatibly; the SONAME is
   libsuperconv.so.<SC_ABI_VERSION>. Bindings compare it with sc_abi_version(). */
#define SC_ABI_VERSION 1

typedef enum sc_status {
  SC_OK = 0,
  SC_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, bad spec key or value, label out of range, dead handle */
  SC_ERR_SHAPE = 2,            /* a buffer length or tensor shape does not match */
  SC_ERR_IO = 3,               /* a file could not be read or written */
  SC_ERR_FORMAT = 4,           /* a file's content is not what it must be */
  SC_ERR_NONFINITE = 5,        /* a loss, gradient or hyper-parameter became NaN or infinite */
  SC_ERR_OUT_OF_MEMORY = 6,
  SC_ERR_STATE = 7,            /* the call is not valid in the object's current state */
  SC_ERR_UNSUPPORTED = 8,
  SC_ERR_INTERNAL = 9,         /* a bug in superconv; please report it with the message */
  SC_INTERRUPTED = 10          /* a long call stopped early at sc_trainer_interrupt's request */
} sc_status;

/* ---------------------------------------------------------------------------------------------
 * Handles
 * ------------------------------------------------------------------------------------------- */

/* Opaque handles, one type per object; each section below is in lifecycle order: create,
   configure, use, query, destroy. */
typedef struct sc_model sc_model;
typedef struct sc_trainer sc_trainer;
typedef struct sc_schedule sc_schedule;
typedef struct sc_dataset sc_dataset;
typedef struct sc_loader sc_loader;
typedef struct sc_range_test sc_range_test;
typedef struct sc_lr_estimator sc_lr_estimator;
typedef struct sc_optimizer sc_optimizer;

/* ---------------------------------------------------------------------------------------------
 * Library
 * ------------------------------------------------------------------------------------------- */

/* The library's version, "MAJOR.MINOR.PATCH". Static storage; never NULL. Thread-safe. */
const char *sc_version(void);

/* The ABI version the library was built with; equals SC_ABI_VERSION of the header it was built
   from. Thread-safe. */
int sc_abi_version(void);

/* The message of the last call that failed on the calling thread, or "" if none has. The string
   is owned by the library and stays valid until the next failing call on this thread.
   Successful calls do not clear it. */
const char *sc_last_error(void);

/* The enumerator's name for a status, e.g. "SC_ERR_SHAPE"; "SC_ERR_UNKNOWN" for values outside
   the enum. Static storage. Thread-safe. */
const char *sc_status_name(sc_status s);

/* The BLAS behind the convolutions: OpenBLAS's build configuration and the core kernel it
   chose for this CPU, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64;
   core Haswell". Static storage; never NULL. Thread-safe. */
const char *sc_blas_info(void);

/* The instruction set whose kernels models created from now on run, and those this CPU supports,
   e.g. "avx512 (supported: portable avx2 avx512); Winograd F(2x2,3x3) where it serves". The
   library chooses the best supported set at its first use; the environment variable
   SUPERCONV_ISA=portable|avx2|avx512 chooses another, and when it names a set that is unknown or
   that this CPU lacks, the string says so and the best set is used. On avx2 and avx512 the
   forward and input-gradient passes of 3x3 stride-1 convolutions take Winograd's F(2x2, 3x3)
   where the image shape suits it (even sizes whose 2x2 tiles fill the vectors of the set, at
   most a quarter of their lanes idle: 32, 28 and 16 pixels wide, and 8 on avx2); the
   environment variable SUPERCONV_WINOGRAD=0 keeps them on the direct kernels, which reproduces
   the bits of the library before it had Winograd kernels. Every set computes the same functions:
   results agree to rounding across sets and with Winograd on or off, and are bit-identical
   across runs and thread counts within one choice. Static storage; never NULL. Thread-safe. */
const char *sc_instruction_set(void);

/* Sets how many threads the library computes with: a pool of n - 1 worker threads plus the
   calling thread, which run its convolutions (each worker with its own single-threaded OpenBLAS
   GEMMs; OpenBLAS's own threading is kept at 1) and its element-wise kernels. n must be in
   [1, 256]. The default is SUPERCONV_NUM_THREADS from the environment if set, else the number of
   online processors. Process-wide; call it while no other thread is inside the library.
   The pool serves one host thread at a time: when several host threads use different handles
   at once, one of them gets the pool and the others compute on their own thread. Results are
   bit-identical for every thread count and either way.
   Between the parallel parts of a call, and for up to 2 ms after it returns, the workers spin
   (yielding to any other runnable thread) before they sleep: waking a sleeping thread takes
   tens of microseconds, and a training step has hundreds of parallel parts.
   Note for Python hosts: numpy carries its own OpenBLAS with its own threads; when both compute
   at once the cores are oversubscribed.
   Errors: SC_ERR_INVALID_ARGUMENT for n out of range. */
sc_status sc_set_num_threads(int n);

/* The current thread setting. */
int sc_get_num_threads(void);

/* ---------------------------------------------------------------------------------------------
 * Models: CIFAR ResNets of depth 6n+2
 * ------------------------------------------------------------------------------------------- */

/* Creates a ResNet from a spec and initialises it from its seed (MSRA normal weights, zero
   biases, BN scale 1 and shift 0, running mean 0 and variance 1). Spec keys and defaults:
     depth=20        6n+2: 20, 32, 44, 56, 110, ... (8 to 1202)
     variant=caffe   caffe: the paper's Caffe network — convolutions with biases (learning-rate
                       multiplier 2, no weight decay, as the fc bias), downsampling block whose
                       branch keeps the width (stride-2 first conv) with a 3x3/2 average-pool
                       shortcut (ceil mode), zero channels appended after the block's ReLU;
                     he-a: He et al.'s option A as in the common PyTorch CIFAR ResNet — no conv
                       biases, branch at the doubled width, shortcut x[:, :, ::2, ::2] with
                       zero channels on both sides; every multiplier 1.
     input=3x32x32   CxHxW of a sample (C <= 64, H, W >= 4; caffe needs H, W divisible by 4)
     classes=10
     seed=1          unsigned 64-bit
     bn_maf=0.95     BatchNorm moving-average fraction in (0, 1]; the paper uses 0.95 for short
                     runs (Caffe's default is 0.999, PyTorch's momentum 0.1 is bn_maf=0.9)
     bn_eps=1e-05    BatchNorm epsilon
     bn_stats=caffe  caffe: s = maf*s + 1, acc = maf*acc + batch stat, eval uses acc/s (bias
                       corrected; unbiased batch variance);
                     pytorch: running = (1-momentum)*running + momentum*batch, momentum = 1-maf
     bn_eval=global  inference normalises with global (running) statistics, or with the
                     batch's own (Caffe's use_global_stats: false)
     dropout=0       dropout probability before the classifier, in [0, 0.99]
   On success *out is a new handle, released with sc_model_destroy.
   Errors: SC_ERR_INVALID_ARGUMENT (out NULL, unknown key, bad value: the message names the key),
   SC_ERR_OUT_OF_MEMORY. */
sc_status sc_model_create(const char *spec, sc_model **out);

/* A model for inference from a checkpoint: built from its model_spec, with its tensors. */
sc_status sc_model_create_from_checkpoint(const char *path, sc_model **out);

/* Turns per-part timing of the model's training steps on (enabled != 0) or off, and zeroes what
   was measured. While on, every layer's forward and backward (named as in the state_dict, plus
   relu, add, shortcut, widen, pool, dropout), and the trainers' loss, finite check, gradient
   zeroing and optimizer update are timed with the monotonic clock; the cost is two clock
   reads per part. Profile training steps only: evaluations add to the forward times. */
sc_status sc_model_set_profiling(sc_model *m, int enabled);

/* Inference-mode forward pass of n samples: writes n*classes logits (row per sample) to
   `logits`, whose length logits_len must be exactly n*classes. x holds n samples of C*H*W
   floats. Large n is processed in chunks of 256 samples (with bn_eval=batch, each chunk is
   normalised with its own statistics). Changes no parameter or statistic.
   Errors: SC_ERR_INVALID_ARGUMENT (NULL pointer, n < 1), SC_ERR_SHAPE (logits_len). */
sc_status sc_model_forward(sc_model *m, const float *x, int64_t n, float *logits, int64_t logits_len);

/* Replaces the named tensor's values with `in` (copied); len must equal its element count.
   Values must be finite, and variances non-negative; otherwise nothing changes. BN running
   statistics set this way are what inference uses.
   Errors: SC_ERR_INVALID_ARGUMENT (unknown name, NULL, non-finite or negative variance),
   SC_ERR_SHAPE (len). */
sc_status sc_model_param_set(sc_model *m, const char *name, const float *in, int64_t len);

/* The model's normalised spec: every key, defaults filled in. Owned by the model, valid until
   it is destroyed. NULL (and sc_last_error set) if m is not a live model. */
const char *sc_model_spec(const sc_model *m);

/* The number of named tensors: trainable parameters and BN running statistics. */
sc_status sc_model_param_count(const sc_model *m, int64_t *count);

/* Describes named tensor `index` (0-based, in the model's fixed order): its name, a PyTorch
   state_dict key such as "layer2.0.bn1.running_mean" (owned by the model, valid until it is
   destroyed), its rank (1, 2 or 4) and its shape; shape entries past the rank are 1, so the
   product of the four is the element count. Any output may be NULL.
   Errors: SC_ERR_INVALID_ARGUMENT for index out of [0, count). */
sc_status sc_model_param_info(const sc_model *m, int64_t index, const char **name, int32_t *rank,
                              int64_t shape[4]);

/* Copies the named tensor into `out`; len must equal its element count.
   Errors: SC_ERR_INVALID_ARGUMENT (unknown name, NULL), SC_ERR_SHAPE (len). */
sc_status sc_model_param_get(const sc_model *m, const char *name, float *out, int64_t len);

/* The profile since sc_model_set_profiling as text: milliseconds per training step, forward
   and backward, for every part and then per kind of part (conv, bn, relu, ...) with its share
   of the total. The string is owned by the model and valid until the next call of this
   function on it or its destruction. */
sc_status sc_model_profile(sc_model *m, const char **report);

/* Releases a model. NULL and dead handles are ignored. Trainers created on the model must be
   destroyed first; a trainer whose model was destroyed returns SC_ERR_STATE. */
void sc_model_destroy(sc_model *m);

/* ---------------------------------------------------------------------------------------------
 * Schedules: learning rate and momentum as functions of the iteration
 * ------------------------------------------------------------------------------------------- */

/* Creates a schedule: a pure function from the iteration (0-based: the iteration whose update
   the values drive) to a learning rate and a momentum. `policy` selects the formula and the
   valid keys. Past the end of a policy with an end, the final values are held (never an
   error, never a reflection). Defaults follow the paper's recipes. Spec keys and defaults:
     every policy:           warmup=0 (the first N learning rates scaled by (it+1)/N)
     policy=fixed            base_lr=0.1 momentum=0.9
     policy=step             lr = base_lr * gamma^floor(it/stepsize); base_lr=0.1 gamma=0.1 stepsize=5000
                               momentum=0.9
     policy=multistep        lr = base_lr * gamma^(number of stepvalues <= it)  (the paper's PC-LR);
                               base_lr=0.35 gamma=0.1 stepvalues=50000,70000 momentum=0.9
     policy=exp              lr = base_lr * gamma^it; base_lr=0.1 gamma=0.9999 momentum=0.9
     policy=poly             lr = base_lr * (1 - it/max_iter)^power; base_lr=0.1 power=1 max_iter=10000
                               momentum=0.9
     policy=triangular       Smith's CLR: cycle = floor(1 + it/(2*stepsize)),
     policy=triangular2        x = |it/stepsize - 2*cycle + 1|,
     policy=exp_range          lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale, scale 1,
                               1/2^(cycle-1) or gamma^it; base_lr=0.1 max_lr=3 stepsize=5000
                               stepsize_down=0 (0: symmetric; else PyTorch CyclicLR's asymmetric
                               cycle) gamma=0.99994 max_iter=0 (0: cycles forever; else held from
                               max_iter on) momentum=0.9 (or high,low: cycled against the lr)
     policy=onecycle         Smith's 1cycle, linear: base_lr -> max_lr over stepsize, back over
                               stepsize, then down to annihilation*base_lr at max_iter (here a
                               tenth of the run); base_lr=0.1 max_lr=3 stepsize=5000 max_iter=11000
                               annihilation=0.001 momentum=0.95,0.85
     policy=onecycle_cosine  PyTorch's OneCycleLR: max_lr=3 total_steps=10000 pct_start=0.3
                               div=25 final_div=10000 three_phase=0 anneal=cos (or linear)
                               momentum=0.95,0.85 (one value: no momentum cycling)
     policy=sgdr             cosine annealing with warm restarts: base_lr=0.1 t0=1000 t_mult=1
                               eta_min=0 momentum=0.9
     policy=linear_ramp      range test sweep, lr = base_lr + (max_lr - base_lr)*it/max_iter;
                               base_lr=0 max_lr=3 max_iter=5000 momentum=0.9
     policy=exp_ramp         lr = base_lr * (max_lr/base_lr)^(it/max_iter); base_lr=1e-05
                               max_lr=10 max_iter=5000 momentum=0.9
   Errors: SC_ERR_INVALID_ARGUMENT for an unknown policy or key, a non-positive step size,
   max_lr < base_lr, non-increasing stepvalues, momentum outside [0, 1), ... (the message names
   the key). A schedule is immutable: it may be used from several threads at once. */
sc_status sc_schedule_create(const char *spec, sc_schedule **out);

/* The learning rate and momentum for `iteration` (0 <= iteration <= INT32_MAX). Either output
   may be NULL. */
sc_status sc_schedule_at(const sc_schedule *s, int64_t iteration, float *lr, float *momentum);

/* Fills lr[i] and momentum[i] with the values at iteration first + i for i in [0, count);
   len must equal count; either output may be NULL.
   Errors: SC_ERR_INVALID_ARGUMENT (range), SC_ERR_SHAPE (len != count). */
sc_status sc_schedule_table(const sc_schedule *s, int64_t first, int64_t count, float *lr, float *momentum,
                            int64_t len);

/* The normalised spec: the policy's keys, defaults filled in. Owned by the schedule. */
const char *sc_schedule_spec(const sc_schedule *s);

/* Releases a schedule. NULL and dead handles are ignored. Trainers hold their own copy. */
void sc_schedule_destroy(sc_schedule *s);

/* ---------------------------------------------------------------------------------------------
 * Data sets
 * ------------------------------------------------------------------------------------------- */

/* Reads a labelled image data set into memory. `format` selects the reader; a key written
   KEY=PATH or KEY=DIR has no default and must be given. Spec keys and defaults:
     format=idx images=PATH labels=PATH classes=0    MNIST-style IDX, gzip or plain, e.g.
                               /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
     format=cifar10 dir=DIR split=train (or test)    data_batch_1..5.bin / test_batch.bin
     format=cifar100 dir=DIR split=train (or test) label=fine (or coarse)
                                                     train.bin / test.bin
     format=hdf5 path=PATH images=images labels=labels layout=nchw (or nhwc) classes=0
                                                     images uint8 or float32, rank 4
   classes=0 takes the number of classes from the largest label. Byte images become floats in
   [0, 1] (value / 255) when read; float images are used as stored.
   Every reader checks the whole file before it keeps anything: magic numbers, header fields,
   sizes against the declared counts (a header declaring more than the file can hold is
   rejected before anything is allocated), dimensions and label ranges.
   Labels must be below INT32_MAX (class counts are int32). HDF5 files are probed in a child
   process first (see Files above).
   Errors: SC_ERR_IO (a file cannot be opened or is not a regular file; the message names it),
   SC_ERR_FORMAT (truncated, corrupt or mismatched content, a file that is not HDF5, libhdf5
   failing on it, links or values in other files; the message names the file and what was
   wrong), SC_ERR_INVALID_ARGUMENT (spec). */
sc_status sc_dataset_open(const char *spec, sc_dataset **out);

/* A data set from a host's arrays, copied: n samples of the given shape ("CxHxW", each in
   [1, 4096]) as NCHW floats, and n labels >= 0 (classes: the largest label + 1).
   Errors: SC_ERR_INVALID_ARGUMENT (NULL, shape, n, a non-finite value, a negative label). */
sc_status sc_dataset_from_memory(const float *x, const int32_t *labels, int64_t n, const char *shape,
                                 sc_dataset **out);

/* Copies samples first .. first+count-1 as floats into x (x_len must be count * C*H*W) and their
   labels into labels (count values); either may be NULL. */
sc_status sc_dataset_get(const sc_dataset *d, int64_t first, int64_t count, float *x, int64_t x_len,
                         int32_t *labels);

/* The normalised spec it was opened with. Owned by the data set. */
const char *sc_dataset_spec(const sc_dataset *d);

/* Number of samples, their shape and the number of classes. Any output may be NULL. */
sc_status sc_dataset_info(const sc_dataset *d, int64_t *count, int32_t *channels, int32_t *height,
                          int32_t *width, int32_t *classes);

/* Releases a data set. Loaders made from it keep the data alive. NULL and dead handles are
   ignored. */
void sc_dataset_destroy(sc_dataset *d);

/* ---------------------------------------------------------------------------------------------
 * Loaders: batches of a data set, prepared by a background thread
 * ------------------------------------------------------------------------------------------- */

/* Creates a loader over d. A background thread prepares batches ahead, so that loading and
   augmentation are off the trainer's path. Spec keys and defaults:
     batch=128          samples per batch
     shuffle=1          a fresh order every epoch, seeded by (seed, epoch); 0: data order
     seed=0             seeds the order, the augmentation and the subsets
     drop_last=0        1: drop an epoch's last, smaller batch
     augment=none       or a comma list: cropN (pad N zero pixels, crop a random window at the
                        original size), flip (mirror with probability 1/2)
     normalize=none     channel: per-channel mean and standard deviation; pixel: the paper's
                        per-pixel mean subtracted without scaling. Computed on the loader's
                        samples (see sc_loader_copy_normalization)
     subset=0           use only this many samples (0: all) ...
     subset_mode=first  ... the first ones, or stratified: a seeded random subset with the
                        class proportions (the paper's 10k/20k/30k/40k experiments)
     holdout=0          hold out this many samples (stratified, seeded) after the subset ...
     part=train         ... and use the rest (train) or them (holdout)
     prefetch=2         batches prepared ahead
     mean=auto          normalize=channel: given per-channel means as a comma list
                        (e.g. 0.4914,0.4822,0.4465) instead of computed ones
     std=auto           normalize=channel: given per-channel standard deviations
     shard=0/1          RANK/WORLD, for data-parallel training: every rank's loader shuffles
                        alike (same seed) and takes every WORLD-th sample of the epoch's order,
                        from place RANK on; so the WORLD ranks together see every sample once
                        an epoch. When WORLD does not divide the samples, the order is padded
                        with its own first samples (as PyTorch's DistributedSampler), so every
                        rank has ceil(samples / WORLD) of them and as many batches. Subsets,
                        hold-outs and normalisation statistics are those of the whole selection,
                        the same on every rank; augmentation draws differ by rank
   Every batch depends only on the spec, the epoch and its place in it, never on timing.
   Errors: SC_ERR_INVALID_ARGUMENT (d, spec, a subset or hold-out larger than the data). */
sc_status sc_loader_create(const sc_dataset *d, const char *spec, sc_loader **out);

/* Makes `target` normalise with `source`'s statistics (e.g. a test loader with the training
   set's mean and deviation). Both must use the same normalize mode on samples of one shape. */
sc_status sc_loader_copy_normalization(sc_loader *target, const sc_loader *source);

/* Makes l normalise with the input statistics stored in the checkpoint at `path`: those of the
   loader its trainer last trained from (as sc_loader_copy_normalization from that loader), so
   that a saved model can be evaluated on data prepared as in training. l must use the same
   normalize mode on samples of the same shape.
   Errors: SC_ERR_STATE (the checkpoint holds no statistics: its trainer never trained from a
   normalising loader), SC_ERR_INVALID_ARGUMENT (another mode or shape), SC_ERR_IO,
   SC_ERR_FORMAT. */
sc_status sc_loader_load_normalization(sc_loader *l, const char *path);

/* Copies the next batch into x and labels, which must hold `capacity` >= batch samples; writes
   the number of samples in it and whether it is the last batch of its epoch. Waits while the
   background thread is behind.
   Errors: SC_ERR_INVALID_ARGUMENT (NULL), SC_ERR_SHAPE (capacity below the batch size). */
sc_status sc_loader_next(sc_loader *l, float *x, int32_t *labels, int64_t capacity, int64_t *n,
                         int32_t *epoch_done);

/* The normalised spec. Owned by the loader. */
const char *sc_loader_spec(const sc_loader *l);

/* The number of samples per epoch (of a shard: its part) and of batches per epoch. Either
   output may be NULL. */
sc_status sc_loader_info(const sc_loader *l, int64_t *samples, int64_t *batches);

/* Stops the loader's thread (waiting for it) and releases the loader, also mid-epoch. NULL and
   dead handles are ignored. */
void sc_loader_destroy(sc_loader *l);

/* ---------------------------------------------------------------------------------------------
 * Trainers: SGD with momentum (or another optimizer) on a model
 * ------------------------------------------------------------------------------------------- */

/* Creates a trainer for model m, which it borrows: m must stay alive while the trainer is used.
   Spec keys and defaults:
     lr=0.1              learning rate until a schedule is set (sc_trainer_set_schedule)
     momentum=0.9        momentum (Adam's beta1) until a schedule is set, in [0, 0.9999]
     optimizer=sgd       sgd | nesterov | adagrad | adadelta | adam | adamw (see below)
     form=caffe          sgd and nesterov: caffe or pytorch
     weight_decay=0.0001 L2 decay in [0, 1] (decoupled for adamw), times each parameter's
                         decay multiplier
     rho=0.95            adadelta's decay
     eps=1e-08           adagrad, adadelta and adam's denominator term
     beta2=0.999         adam's second-moment decay
     clip=0              clip gradients to this global L2 norm (Caffe's clip_gradients); 0 = off
     eval_batch=250      samples per forward in sc_trainer_evaluate
     precise_bn=0        K > 0: every evaluation (sc_trainer_evaluate, _evaluate_loader,
                         _evaluate_dataset) normalises with BatchNorm statistics recomputed from
                         the last K batches the trainer stepped on, under the current weights
                         ("precise BN"; see sc_trainer_recompute_statistics), and then puts the
                         running statistics back. The trainer keeps copies of those K batches
                         (K x batch x sample floats). Before its first step, and for the first
                         evaluations after sc_checkpoint_load (the copies are not saved), it has
                         fewer or none: none means the running statistics.
   Update rules, with g' = g + wd*w (L2) and per-parameter lr and decay multipliers:
     sgd caffe (the paper's): v = m*v + lr*g',  w -= v
     sgd pytorch:             v = m*v + g',     w -= lr*v
     nesterov caffe:          v' = m*v + lr*g', w -= (1+m)*v' - m*v
     nesterov pytorch:        v = m*v + g',     w -= lr*(g' + m*v)
     adagrad:                 h += g'^2,        w -= lr*g'/(sqrt(h) + eps)
     adadelta:                hg = rho*hg + (1-rho)*g'^2, u = sqrt((hu+eps)/(hg+eps))*g',
                              hu = rho*hu + (1-rho)*u^2,  w -= lr*u
     adam, adamw:             beta1 = momentum, bias-corrected moments; adamw decays w -= lr*wd*w
                              instead of adding wd*w to g
   All state starts at 0. The caffe variant's biases have lr multiplier 2 and no decay.
   Errors: SC_ERR_INVALID_ARGUMENT (m not a live model, out NULL, bad spec), SC_ERR_OUT_OF_MEMORY. */
sc_status sc_trainer_create(sc_model *m, const char *spec, sc_trainer **out);

/* Makes the trainer take its learning rate and momentum from a copy of s, at the trainer's
   iteration counter (sc_trainer_iteration), from the next step on. Replaces the fixed lr and
   momentum of the trainer's spec; s may be destroyed afterwards. */
sc_status sc_trainer_set_schedule(sc_trainer *t, const sc_schedule *s);

/* Progress reports during sc_trainer_train_epoch: after every step, the iteration count, the
   step's learning rate, the batch's loss and accuracy (and during sc_trainer_range_test; see
   there). Called on the calling thread. */
typedef void (*sc_progress_fn)(void *user, int64_t iteration, float lr, float loss, float accuracy);

/* Registers (or with NULL removes) the trainer's progress callback; `user` is passed back. */
sc_status sc_trainer_set_progress(sc_trainer *t, sc_progress_fn callback, void *user);

/* Attaches an estimator to the trainer (replacing any): a snapshot of the watched parameters
   now, then one every inc completed steps, each with the learning rate of the step just taken. */
sc_status sc_trainer_attach_lr_estimator(sc_trainer *t, const char *spec);

/* Starts recording the trainer's run to the HDF5 file at `path` (replacing it), or with path
   NULL stops recording. The run file holds, as attributes, format ("superconv-run"),
   format_version, model_spec, trainer_spec and schedule_spec, and the datasets
     iterations/iteration, lr, momentum, loss, accuracy, time, lr_estimate, lr_estimate_smoothed
     evaluations/iteration, loss, accuracy, time
   one row per training step and per evaluation (sc_trainer_evaluate, _evaluate_loader,
   _evaluate_dataset); time in seconds since recording began; estimates NaN without an
   estimator. Range tests are not recorded. The file is rewritten atomically at every
   evaluation, every flush_every steps and when recording stops, so a
   run killed midway keeps its records up to the last rewrite. A step never fails because the
   record cannot be written (its update has been applied); the first such failure is returned
   when recording stops. Recording keeps every row in memory (a few dozen bytes a step).
   With append=1 the rows already in the file up to the trainer's current iteration are kept
   and times go on from them: the way to continue the record of a run resumed from a
   checkpoint (rows after the checkpoint's iteration are dropped; a missing file starts an
   empty record). Spec keys and defaults:
     flush_every=100  steps between rewrites of the run file (evaluations always rewrite it)
     append=0         1: keep the file's rows up to the trainer's iteration and go on from them
   The file is written as sc_checkpoint_save writes checkpoints (whole-file checksum, atomic).
   Errors: SC_ERR_IO (the file cannot be written, checked at once), SC_ERR_FORMAT (append=1 and
   the file is not a run file, or is damaged), SC_ERR_STATE (the trainer's model was destroyed),
   SC_ERR_INVALID_ARGUMENT. */
sc_status sc_trainer_record(sc_trainer *t, const char *path, const char *spec);

/* One training iteration on a batch of n samples (1 <= n <= 65536): forward in training mode
   (batch statistics, dropout), mean softmax cross-entropy, backward, update, and the BN running
   statistics folded in. Writes the batch's mean loss before the update and the number of
   samples whose arg-max logit equals the label; either output may be NULL.
   If the loss, any gradient or any BatchNorm's batch statistics (activations overflowing float) is
   NaN or infinite, returns SC_ERR_NONFINITE and changes nothing:
   weights, running statistics, optimizer state, random state and iteration stay as they were.
   It is sc_trainer_compute_gradients then sc_trainer_apply_gradients, with the trainer's
   all-reduce between them when one is set (sc_trainer_set_allreduce); an error of the
   all-reduce is returned as it is, and nothing changes.
   Errors: SC_ERR_INVALID_ARGUMENT (NULL, n out of range, a label outside [0, classes)),
   SC_ERR_NONFINITE, SC_ERR_STATE (the model was destroyed). */
sc_status sc_trainer_step(sc_trainer *t, const float *x, const int32_t *labels, int64_t n,
                          float *loss, int64_t *correct);

/* THE OPEN STEP. sc_trainer_step is these three calls in a row, with the same bits:
     sc_trainer_compute_gradients   forward in training mode, loss, backward; nothing applied
     (the all-reduce, when one is set: see sc_trainer_set_allreduce)
     sc_trainer_apply_gradients     finite check, weight decay, schedule, optimizer, BN
                                    statistics commit, iteration + 1
   so a host can read, exchange, change or replace the gradients in between, e.g. to average
   them across processes or to take them to an optimizer of its own. */

/* Forward in training mode (batch statistics, dropout), mean softmax cross-entropy and backward
   on a batch of n samples (1 <= n <= 65536), as sc_trainer_step, with the gradients of the
   batch's mean loss written to the trainer's flat gradient buffer (sc_trainer_gradients) and
   nothing applied: weights, running statistics, optimizer state and iteration stay as they
   were. The batch's BN statistics wait for sc_trainer_apply_gradients. Gradients computed
   before and not applied are discarded, unless the call fails on its arguments (NULL, n,
   labels); a failure later (a non-finite loss) leaves none pending. Writes the batch's mean
   loss and number correct; either output may be NULL.
   Dropout draws count only once applied: computing again without applying draws the same masks.
   Errors: as sc_trainer_step (SC_ERR_NONFINITE for a non-finite loss: nothing changes and no
   gradients are pending). Not thread-safe with other calls on t or its model. */
sc_status sc_trainer_compute_gradients(sc_trainer *t, const float *x, const int32_t *labels, int64_t n,
                                       float *loss, int64_t *correct);

/* The trainer's flat gradient buffer: *data points to *len floats, the gradients of every
   trainable tensor one after another, in the model's named-tensor order (sc_model_param_info)
   with the running statistics skipped, each in its own layout (OIHW, [out, in], per channel).
   For depth=20 variant=caffe: conv1.weight (16x3x3x3), conv1.bias, bn1.weight, bn1.bias,
   layer1.0.conv1.weight, layer1.0.conv1.bias, layer1.0.bn1.weight, ... fc.weight, fc.bias.
   The buffer is owned by the trainer; the pointer stays the same for the trainer's life (it is
   valid until sc_trainer_destroy). Its contents are those of the last
   sc_trainer_compute_gradients or step (after a step with an all-reduce: the mean across
   ranks); the host may change them before sc_trainer_apply_gradients, which applies what the
   buffer then holds. Other calls on t that train (step, train_epoch, range_test) overwrite it.
   Errors: SC_ERR_INVALID_ARGUMENT (t, data or len NULL), SC_ERR_STATE (the model was destroyed). */
sc_status sc_trainer_gradients(sc_trainer *t, float **data, int64_t *len);

/* Applies the gradient buffer as it stands to the weights: the finite check of every gradient
   and of the batch's BN statistics, weight decay, the learning rate and momentum of the schedule
   at the current iteration, gradient clipping (clip=), the optimizer's update, the BN running
   statistics of the computing batch folded in, iteration + 1; then an attached estimator and a
   run recorder observe the step as they would sc_trainer_step's.
   A refused apply changes nothing: weights, running statistics, optimizer state, iteration and
   the pending gradients stay, so the host may repair the buffer and apply again, or compute anew.
   Errors: SC_ERR_STATE (no gradients computed since the last apply or step; or the model ran
   another forward pass since, e.g. sc_trainer_evaluate or sc_model_forward, whose BN statistics
   replaced the batch's: compute again), SC_ERR_NONFINITE (a gradient, the batch statistics or
   the schedule's values are NaN or infinite; the message names the tensor),
   SC_ERR_INVALID_ARGUMENT (t). */
sc_status sc_trainer_apply_gradients(sc_trainer *t);

/* A host's all-reduce: sum the len floats at data, in place, across all ranks (every rank
   passes its own buffer of the same length, and afterwards every rank holds the same sums),
   then return SC_OK; any other status fails the call that invoked it with that status.
   `user` is the pointer given to sc_trainer_set_allreduce. Called on the thread that called
   into the library; it must not call functions on the same trainer. */
typedef sc_status (*sc_allreduce_fn)(float *data, int64_t len, void *user);

/* Makes the trainer data-parallel among world_size ranks (1 <= world_size <= 1048576), each a
   process (or thread) with its own model and trainer created from the same specs and seed:
   sc_trainer_step, and so sc_trainer_train_epoch and sc_trainer_range_test, call fn on the flat
   gradient buffer between backward and update, then divide every sum by world_size and apply
   the mean. Every rank must therefore take its steps at the same points, with batches of the
   same size (a loader's shard= key gives each rank its part of the data). Weights stay
   identical on all ranks as long as fn gives every rank the same bits (MPI_Allreduce with
   MPI_SUM does for 2 ranks; the MPI standard advises but does not require it for more).
   Batch normalisation in training uses each rank's own batch, as Caffe's multi-GPU training
   did (no synchronised statistics); the running statistics differ by rank until averaged:
   sc_trainer_train_epoch averages them at the end of each epoch, and a host that steps itself
   calls sc_trainer_average_statistics before evaluating or saving a checkpoint.
   If a rank's computation fails (bad labels, non-finite loss) inside sc_trainer_step, or its
   batch's BN statistics overflow, that rank still calls fn once, with NaN gradients, so the
   other ranks refuse the step with SC_ERR_NONFINITE instead of waiting or applying it alone; all
   ranks then return an error and nothing is applied anywhere. (An argument refused before any computation, e.g. x NULL, calls nothing.)
   sc_trainer_compute_gradients and sc_trainer_apply_gradients never call fn: a host that calls
   them exchanges the buffer itself. sc_trainer_interrupt stops one rank only, after a step the
   others may not stop at: in a data-parallel job, end the job instead (mpirun does on Ctrl-C)
   and resume it from its last checkpoint. fn NULL removes the hook (world_size is then ignored).
   The function pointer and user are kept until replaced; the host keeps user valid.
   Errors: SC_ERR_INVALID_ARGUMENT (t, world_size out of range). */
sc_status sc_trainer_set_allreduce(sc_trainer *t, sc_allreduce_fn fn, void *user, int world_size);

/* Replaces every BN running mean and variance by its mean across ranks, through the trainer's
   all-reduce (one call of fn on all of them, in named-tensor order); a collective call: every
   rank calls it at the same point. Without an all-reduce it does nothing. Caffe's weights s are
   not exchanged: all ranks take the same number of steps, so theirs are equal.
   Errors: the all-reduce's status (nothing changes), SC_ERR_NONFINITE (the mean is not
   finite: nothing changes), SC_ERR_INVALID_ARGUMENT (t). */
sc_status sc_trainer_average_statistics(sc_trainer *t);

/* Mean loss and number correct over n samples in inference mode, processed eval_batch samples
   at a time; no parameter, statistic or counter changes (with precise_bn, the statistics are
   recomputed for this evaluation only). Either output may be NULL.
   Errors: as sc_trainer_step, except SC_ERR_NONFINITE is not returned (a NaN loss is reported). */
sc_status sc_trainer_evaluate(sc_trainer *t, const float *x, const int32_t *labels, int64_t n,
                              float *loss, int64_t *correct);

/* Trains on batches of l until the end of the loader's current epoch, with the trainer's
   schedule per iteration; writes the epoch's mean training loss and accuracy (over the
   batches this call trained on). A refused step (SC_ERR_NONFINITE) ends the call; the loader
   then stands where the epoch was interrupted. With an all-reduce set (sc_trainer_set_allreduce),
   every step exchanges its gradients, and at the end of the epoch the BN running statistics are
   averaged across the ranks (sc_trainer_average_statistics).
   Errors: as sc_trainer_step; SC_ERR_SHAPE when the samples do not fit the model;
   SC_INTERRUPTED (see sc_trainer_interrupt). */
sc_status sc_trainer_train_epoch(sc_trainer *t, sc_loader *l, float *mean_loss, double *accuracy);

/* Mean loss and accuracy over one epoch of l in inference mode. Errors: as sc_trainer_evaluate;
   SC_INTERRUPTED (see sc_trainer_interrupt). */
sc_status sc_trainer_evaluate_loader(sc_trainer *t, sc_loader *l, float *mean_loss, double *accuracy);

/* Mean loss and accuracy over d in inference mode, read in order through a temporary loader
   with the given loader spec (batch, normalize, subset, ...; shuffle is 0 and augmentation and
   drop_last are refused). Its normalisation is computed on d itself: to use the training
   statistics, evaluate a loader with sc_loader_copy_normalization instead. */
sc_status sc_trainer_evaluate_dataset(sc_trainer *t, const sc_dataset *d, const char *spec, float *mean_loss,
                                      double *accuracy);

/* Runs a range test on the trainer and replaces r's records with it. The learning rate sweeps
   from min_lr to max_lr while the trainer takes steps on consecutive batches of the n training
   samples (wrapping around); every eval_every iterations (and at the last) the n_eval held-out
   samples are evaluated (n_eval may be 0, x_eval and labels_eval then NULL). The sweep stops at
   divergence (a non-finite step, or the smoothed loss above diverge x its best). Afterwards the
   trainer is exactly as before: weights, BN statistics, optimizer state, random state,
   iteration and schedule are restored, whatever happened. Spec keys and defaults:
     sweep=linear     linear (the paper's) or exp
     min_lr=0         first learning rate (exp needs > 0)
     max_lr=3         last learning rate
     iterations=500   sweep length
     batch=128        samples per step
     eval_every=10
     stop=1           0: sweep to the end even after divergence
     precise_bn=8     each evaluation normalises with BatchNorm statistics recomputed from the
                      sweep's last K batches (fewer at its start) under the current weights
                      (precise BN, see sc_trainer_recompute_statistics), at the cost of K
                      forward passes per evaluation. 0: with the running statistics, which
                      lag a fast sweep: held-out accuracy evaluated with them swings between
                      chance and its true level from one point to the next.
   Momentum is the trainer's at its current iteration.
   The trainer's progress callback (sc_trainer_set_progress), if any, is called after every
   sweep step with the step's index in the sweep, its learning rate, train loss and accuracy.
   Errors: SC_ERR_INVALID_ARGUMENT (NULL, n < batch, labels, spec), SC_ERR_STATE (model
   destroyed), SC_INTERRUPTED (sc_trainer_interrupt; the trainer is restored and r unchanged). */
sc_status sc_trainer_range_test(sc_trainer *t, const float *x, const int32_t *labels, int64_t n,
                                const float *x_eval, const int32_t *labels_eval, int64_t n_eval,
                                const char *spec, sc_range_test *r);

/* "Precise BN" (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"): replaces every
   BatchNorm's running mean and variance by the mean, over the batches of x (n samples taken
   `batch` at a time, the last batch possibly smaller), of the statistics each batch has under
   the current weights (forward passes in training mode, no update). The running statistics
   average batches seen under past weights, which lag weights that change fast (large learning
   rates, short runs); recomputed ones describe the network as it is, e.g. before saving a model
   for inference. Call it on training samples (normalised and augmented as in training); a few
   thousand samples are enough. Weights, optimizer state, iteration, random state and Caffe's
   accumulation weights are unchanged; gradients computed and not yet applied can no longer be
   applied (as after any forward pass). For evaluations that leave the running statistics as
   they are, use the trainer's or the range test's precise_bn key instead.
   Errors: SC_ERR_INVALID_ARGUMENT (t not live, x NULL, n or batch out of range), SC_ERR_STATE
   (model destroyed), SC_ERR_NONFINITE (a batch's statistics overflow; nothing changes). */
sc_status sc_trainer_recompute_statistics(sc_trainer *t, const float *x, int64_t n, int64_t batch);

/* Asks the long call running on t (sc_trainer_train_epoch, sc_trainer_evaluate_loader,
   sc_trainer_evaluate_dataset, sc_trainer_range_test), or the next one started if none runs,
   to stop after its current step and return SC_INTERRUPTED; the request is then spent.
   sc_trainer_step and sc_trainer_evaluate do not look at it. What an interrupted call leaves:
     train_epoch   the steps taken stay applied and the loader stands at the next batch, so a
                   checkpoint saved now resumes mid-epoch and the next train_epoch finishes
                   the epoch;
     evaluate_*    nothing changes (an evaluated loader is put back where it was);
     range_test    the trainer is restored as always and r keeps its previous records.
   This is the one function that may be called on a trainer while another thread is inside
   the library with it (like sqlite3_interrupt); e.g. a host's SIGINT-watching thread calls it
   so that Ctrl-C can save a checkpoint. It is not async-signal-safe: call it from a thread
   (sigwait), not from a signal handler.
   Errors: SC_ERR_INVALID_ARGUMENT (t not a live trainer). */
sc_status sc_trainer_interrupt(sc_trainer *t);

/* The trainer's normalised spec; owned by the trainer, valid until it is destroyed. */
const char *sc_trainer_spec(const sc_trainer *t);

/* The number of completed training steps. */
sc_status sc_trainer_iteration(const sc_trainer *t, int64_t *iteration);

/* The attached estimator's latest raw and smoothed estimates (NAN before three snapshots).
   Errors: SC_ERR_STATE if none is attached. */
sc_status sc_trainer_lr_estimate(const sc_trainer *t, float *raw, float *smoothed);

/* Releases a trainer (not its model). NULL and dead handles are ignored. */
void sc_trainer_destroy(sc_trainer *t);

/* ---------------------------------------------------------------------------------------------
 * Checkpoints: a trainer's whole state in an HDF5 file
 * ------------------------------------------------------------------------------------------- */

/* Saves everything the trainer needs to continue bit-identically to an HDF5 file at `path`:
   every named tensor of its model under its PyTorch state_dict name (group "model"), Caffe's BN
   weights s ("model_state/bn_weight"), the optimizer's state ("optimizer/0", "optimizer/1", ...),
   the trainer's counters as int64 datasets ("trainer/iteration", "trainer/optimizer_steps",
   "trainer/estimator_start" and the dropout generator's four words "trainer/dropout_rng_state"),
   the attached estimator's state ("estimator/..."), and as string attributes the format tag
   ("superconv-checkpoint"), format_version ("2"), model_spec, trainer_spec, schedule_spec and
   estimator_spec. Every dataset carries a CRC-32 of its bytes (attribute "crc32"). Version 1
   held the same counters in one dataset "counters" (iteration, optimizer steps, the four
   generator words, estimator start); sc_checkpoint_load and the other readers accept both.
   The file starts with the whole-file checksum of "Files" above.
   Atomic: the file is built in memory, written under the temporary name `path`.tmp.<pid> in the
   same folder, fsynced, read back and compared, renamed over `path`, and the folder is fsynced;
   every system call's result is checked. A failure or a kill at any moment before the rename
   leaves the previous file at `path` intact; a failure to sync the folder after the rename is
   reported (SC_ERR_IO, "cannot sync the folder") with the new file complete at `path`.
   Temporary files of killed processes are removed by the next save to the same path. When the trainer has trained from a loader
   (sc_trainer_train_epoch), the loader's position is saved too ("loader_position" with the
   attribute loader_spec): after sc_checkpoint_load, the next sc_trainer_train_epoch with a loader
   of the same spec (over the same data) starts at the batch the saved run would have taken next;
   the shard's rank in its spec does not count, so that a checkpoint saved by rank 0 of a
   data-parallel job (shard=0/WORLD) resumes every rank at the same place;
   a normalising loader's statistics are saved as "normalization/mean" and
   "normalization/inverse_std" (see sc_loader_load_normalization).
   Errors: SC_ERR_IO (the folder is missing or not writable, the disk is full, any write, sync,
   close or rename fails, `path` exists and is not a regular file), SC_ERR_OUT_OF_MEMORY
   (libhdf5 cannot build the file), SC_ERR_INVALID_ARGUMENT (NULL or empty path, dead handle). */
sc_status sc_checkpoint_save(const sc_trainer *t, const char *path);

/* Loads a checkpoint saved by sc_checkpoint_save into a trainer whose model has the same named
   tensors (same depth, variant, input and classes) and whose optimizer has the same kind of
   state. Restores weights, statistics, optimizer state, iteration, generator, schedule (as
   saved; the trainer spec's fixed lr and momentum when none was set) and the estimator.
   Everything is read and checked first (the whole-file checksum when the file has one, format
   tag and version 1 or 2, each dataset's presence, shape, type and checksum, counters that no
   run can reach: negative, beyond INT32_MAX, or an estimator start after the iteration; values
   as sc_model_param_set and sc_optimizer_state_set check them: finite, running variances not
   negative; estimator snapshots as long as this trainer's); on any problem the trainer is
   unchanged. A saved loader position that the next sc_trainer_train_epoch's loader does not
   have fails that call once (SC_ERR_FORMAT) and is dropped.
   Errors: SC_ERR_IO (cannot open), SC_ERR_FORMAT (not HDF5, damaged, truncated, another format
   or version: the message names the version found and those readable, impossible counters or
   values, or a dataset whose shape differs: the message names the dataset and both shapes;
   libhdf5 failing on the file, links or values in other files), SC_ERR_INVALID_ARGUMENT. */
sc_status sc_checkpoint_load(sc_trainer *t, const char *path);

/* ---------------------------------------------------------------------------------------------
 * Range tests: learning-rate range test records and their analysis
 * ------------------------------------------------------------------------------------------- */

/* Creates an empty set of range-test records with its analysis options.
   Spec keys and defaults:
     diverge=4        the loss has diverged once its smoothed value exceeds this times the best
                      so far, or is NaN (fastai's rule)
     beta=0.98        fastai's debiased exponential smoothing of the loss
     smooth_f=0.05    torch-lr-finder's smoothing factor (its own divergence factor is 5)
     min_div=3        the paper's rule: min_lr = max_lr / min_div (3 or 4)
     plateau_tol=0.2  the plateau: windows whose mean accuracy is within this fraction of the
                      rise (peak minus the first evaluation) of the peak; at most 0.5
     window_div=6     accuracy is averaged over windows of max(3, points / window_div)
                      consecutive evaluations
     min_width=2      a "likely" verdict needs a plateau whose last learning rate is at least
                      this times its first
     optimizer=unknown the sweep's optimizer (sgd, nesterov, adagrad, adadelta, adam, adamw);
                      sc_trainer_range_test sets it to the trainer's. With adam and adamw a
                      plateau is not taken as a sign of super-convergence (see the verdict)
     planned=0        points the sweep was planned to record (fastai's suggestions skip the
                      first tenth of them); 0: the points recorded before divergence
   Records come from a host (sc_range_test_record) or from sc_trainer_range_test, which uses
   its own planned length (its iterations) instead of planned. */
sc_status sc_range_test_create(const char *spec, sc_range_test **out);

/* Appends one point of a host's sweep: the learning rate (not below the previous point's), the
   training loss, and, when the host has them, training accuracy, held-out loss and held-out
   accuracy (fractions in [0, 1]); pass NAN for what is missing. A NaN or infinite loss is
   recorded: it marks divergence.
   Errors: SC_ERR_INVALID_ARGUMENT (lr not finite or decreasing, accuracy outside [0, 1]). */
sc_status sc_range_test_record(sc_range_test *r, float lr, float train_loss, float train_acc,
                               float test_loss, float test_acc);

/* The number of points recorded. */
sc_status sc_range_test_count(const sc_range_test *r, int64_t *count);

/* Point `index` as recorded, and its fastai-smoothed loss. Any output may be NULL. */
sc_status sc_range_test_point(const sc_range_test *r, int64_t index, float *lr, float *train_loss,
                              float *train_acc, float *test_loss, float *test_acc, float *smoothed_loss);

/* A value of the analysis, by name (NaN where a rule lacks points or values):
     paper_max, paper_min    the paper's bounds: max_lr where accuracy (held-out if recorded,
                             else training) peaks or, on a plateau, starts to fall; min_lr =
                             max_lr / min_div
     valley, steep, minimum, slide   fastai's suggestions on its smoothed loss (the first tenth
                             of the planned sweep and the last five points before divergence
                             skipped, as fastai does)
     steepest_gradient       torch-lr-finder's suggestion (skip 10 first, 5 last)
     peak_lr, peak_accuracy  the best window of accuracy (held-out if recorded, else
                             training; means over windows of consecutive evaluations, see
                             window_div): its mean and the learning rate at its centre
     accuracy_rise           peak_accuracy minus the first evaluation's accuracy
     plateau_low, plateau_high   the first and last learning rates whose window is within
                             plateau_tol x accuracy_rise of the peak
     plateau_width           plateau_high / plateau_low
     held_lr, held_accuracy  the last window (the largest rates reached before divergence)
     retention               (held_accuracy - first accuracy) / accuracy_rise: how much of its
                             rise accuracy keeps at the largest rates
     oscillation             mean |accuracy change| between consecutive evaluations
     diverged_at             index of the first diverged point, -1 if none
   Errors: SC_ERR_INVALID_ARGUMENT for an unknown name (the message lists the names). */
sc_status sc_range_test_value(const sc_range_test *r, const char *name, double *value);

/* The super-convergence verdict and its evidence in words. The paper's sign (Fig. 2b) is
   accuracy that rises and keeps its level up to the largest rates; a peak followed by decay, a
   collapse, or swings down to low values (Figs. 2a, 11) are not. Evaluations during a fast
   sweep swing by 0.1 from one to the next even on such a plateau, so the rule compares means
   over windows of evaluations (window_div), not single points. With R = retention and
   W = plateau_width:
     "likely"        R >= 1 - plateau_tol and W >= min_width: the level is reached and held to
                     the largest rates; "inconclusive" instead when the optimizer is adam or
                     adamw: the paper found that Adam does not super-converge, and on
                     Fashion-MNIST its range tests hold such a plateau while one cycle gains
                     under a point over its piecewise-constant schedule
     "unlikely"      R < 0.5: at the largest rates accuracy has lost half of its rise
     "inconclusive"  otherwise; or accuracy_rise < 0.1 (the network had not begun to learn: a
                     flat line at chance level is no plateau); or fewer than 6 evaluations
     "unknown"       no accuracy recorded.
   On Fashion-MNIST (REPRODUCTION.md, experiment 8) the verdict of range tests evaluated with
   precise-BN statistics (sc_trainer_range_test's precise_bn) is compared with whether one cycle
   then beat the piecewise-constant schedule by 2 points or more. The evidence is a sentence: where
   accuracy rose, where it stays, what it keeps at the largest rates, and divergence if any.
   Both strings are owned by the handle and valid until the next record or its destruction;
   either output may be NULL. */
sc_status sc_range_test_verdict(const sc_range_test *r, const char **verdict, const char **evidence);

/* The normalised spec; owned by the handle. */
const char *sc_range_test_spec(const sc_range_test *r);

/* Releases the records. NULL and dead handles are ignored. */
void sc_range_test_destroy(sc_range_test *r);

/* ---------------------------------------------------------------------------------------------
 * Learning-rate estimators (paper Eq. 8)
 * ------------------------------------------------------------------------------------------- */

/* Creates a secant estimator of the optimal learning rate, as the authors computed it: from
   three consecutive snapshots theta_i, theta_{i+1}, theta_{i+2} of the parameters,
     est = lr * sum|theta_{i+1} - theta_i| / sum|2*theta_{i+1} - theta_i - theta_{i+2}|
     avg = (1 - alpha) * avg + alpha * est
   Spec keys and defaults:
     alpha=0.1        weight of each new estimate in the running average
     initial=0.1      the starting avg
     norm=l1          l1 (sums of absolute values) or l2 (square roots of sums of squares)
     inc=1            sc_trainer_attach_lr_estimator only: iterations between snapshots
     params=trainable sc_trainer_attach_lr_estimator only: trainable, or all (BN running
                      statistics too, as the authors summed every blob)
   On f = h*theta^2/2 trained by plain SGD the estimate is exactly 1/h. */
sc_status sc_lr_estimator_create(const char *spec, sc_lr_estimator **out);

/* Takes the next snapshot theta (len floats, the same len every time; copied) with the learning
   rate used since the previous one. Writes the raw estimate and the running average, NAN until
   three snapshots have been seen; when the three are collinear there is no secant and raw is
   NAN while the average keeps its value. Either output may be NULL.
   Errors: SC_ERR_SHAPE (len differs from the first snapshot's), SC_ERR_INVALID_ARGUMENT (NULL,
   lr_used), SC_ERR_NONFINITE (theta has NaN or infinity; nothing changes). */
sc_status sc_lr_estimator_observe(sc_lr_estimator *e, const float *theta, int64_t len, float lr_used,
                                  float *raw_estimate, float *smoothed_estimate);

/* The normalised spec; owned by the estimator. */
const char *sc_lr_estimator_spec(const sc_lr_estimator *e);

/* Releases an estimator. NULL and dead handles are ignored. */
void sc_lr_estimator_destroy(sc_lr_estimator *e);

/* ---------------------------------------------------------------------------------------------
 * Optimizers on a host's own parameters
 * ------------------------------------------------------------------------------------------- */

/* Creates an optimizer for a flat buffer of n parameters (1 <= n <= INT32_MAX) that a host
   trains itself. Spec keys: optimizer, form, weight_decay, rho, eps, beta2, clip (with the
   meanings and defaults of sc_trainer_create; clip applies to the norm of the whole buffer).
   Its state (velocities, moments) starts at 0.
   Errors: SC_ERR_INVALID_ARGUMENT (n, spec, out NULL), SC_ERR_OUT_OF_MEMORY. */
sc_status sc_optimizer_create(const char *spec, int64_t n, sc_optimizer **out);

/* Replaces the state and the step count, e.g. from a checkpoint; values must be finite.
   Errors: SC_ERR_SHAPE (len), SC_ERR_INVALID_ARGUMENT (NULL, non-finite value, steps < 0). */
sc_status sc_optimizer_state_set(sc_optimizer *o, const float *state, int64_t len, int64_t steps);

/* One update of params (n floats, updated in place) from grads (n floats) with this step's
   learning rate and momentum (e.g. from sc_schedule_at; momentum is Adam's beta1 and unused by
   adagrad and adadelta). The buffers are only used during the call.
   The optimizer keeps a copy of the parameters and its state (n floats + the state) from which
   an update that overflows is undone.
   Errors: SC_ERR_INVALID_ARGUMENT (NULL, lr not finite or < 0, momentum outside [0, 1), a
   parameter NaN or infinite), SC_ERR_SHAPE (n differs from creation), SC_ERR_NONFINITE (a
   gradient is NaN or infinite, or the update would make a parameter or the state non-finite,
   as Adam's second moment of a gradient of 1e30 would: nothing changes). */
sc_status sc_optimizer_step(sc_optimizer *o, float *params, const float *grads, int64_t n, float lr,
                            float momentum);

/* The normalised spec; owned by the optimizer. */
const char *sc_optimizer_spec(const sc_optimizer *o);

/* The number of floats of state: n for sgd, nesterov and adagrad; 2n for adadelta (hg then hu)
   and adam/adamw (first then second moments). */
sc_status sc_optimizer_state_size(const sc_optimizer *o, int64_t *len);

/* Copies the state into `state` (len floats, as sc_optimizer_state_size says) and the number of
   completed steps into *steps (may be NULL). */
sc_status sc_optimizer_state_get(const sc_optimizer *o, float *state, int64_t len, int64_t *steps);

/* Releases an optimizer. NULL and dead handles are ignored. */
void sc_optimizer_destroy(sc_optimizer *o);

#ifdef __cplusplus
}
#endif

#endif /* SUPERCONV_H */
