import ArgumentParser
import CSuperConv
import Glibc

// Flags mirror the library's spec keys (underscores become dashes: bn_maf is --bn-maf). A flag
// that is not given is not passed, so the library's default applies; the library checks every
// value and its message names the key.

struct CommonOptions: ParsableArguments {
    @Option(help: "Threads the library computes with (default: SUPERCONV_NUM_THREADS, else all cores).")
    var threads: Int?

    @Option(help: "Without a terminal: a progress line every N steps.")
    var logEvery: Int = 50

    @Flag(help: "No per-step progress, only summaries.")
    var quiet = false

    func apply() throws {
        if let threads { try check(sc_set_num_threads(Int32(clamping: threads))) }
    }

    func progress() -> ProgressDisplay { .automatic(quiet: quiet, every: logEvery) }
}

/// Where the samples come from.
struct DataOptions: ParsableArguments {
    @Option(help: "fashion-mnist (Debian's dataset-fashion-mnist), cifar10 or cifar100 (with --data-dir).")
    var dataset = "fashion-mnist"

    @Option(help: "Folder of the data set's files (default for fashion-mnist: \(DataOptions.fashionMNIST)).")
    var dataDir: String?

    @Option(help: "A dataset spec for the training data instead, e.g. \"format=hdf5 path=train.h5\" (see sc_dataset_open).")
    var trainData: String?

    @Option(help: "A dataset spec for the test data instead.")
    var testData: String?

    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    func spec(split: String) throws -> String {
        if let given = split == "train" ? trainData : testData { return given }
        switch dataset {
        case "fashion-mnist":
            let dir = dataDir ?? Self.fashionMNIST
            let prefix = split == "train" ? "train" : "t10k"
            return "format=idx images=\(dir)/\(prefix)-images-idx3-ubyte.gz labels=\(dir)/\(prefix)-labels-idx1-ubyte.gz"
        case "cifar10", "cifar100":
            guard let dataDir else { throw ValidationError("--dataset \(dataset) needs --data-dir (the folder of its binary files)") }
            return "format=\(dataset) dir=\(dataDir) split=\(split)"
        default:
            throw ValidationError("--dataset \(dataset) is not one of fashion-mnist, cifar10, cifar100; use --train-data/--test-data for other files")
        }
    }

    func open(split: String) throws -> Dataset { try Dataset(spec: try spec(split: split)) }
}

/// Loader spec keys (sc_loader_create).
struct LoaderOptions: ParsableArguments {
    @Option(help: "Samples per batch (default 128).") var batch: Int?
    @Option(help: "1: a fresh seeded order every epoch (default); 0: data order.") var shuffle: Int?
    @Option(help: "Seed of the order, the augmentation and the subsets (loader key seed; default 0).") var dataSeed: UInt64?
    @Option(help: "1: drop an epoch's last, smaller batch.") var dropLast: Int?
    @Option(help: "none, or a comma list of cropN (zero-pad N pixels, random crop) and flip.") var augment: String?
    @Option(help: "none, channel (mean/std per channel) or pixel (per-pixel mean, the paper's).")
    var normalize = "pixel"
    @Option(help: "Train on this many samples only; 0: all.") var subset: Int?
    @Option(help: "first, or stratified (a seeded subset with the class proportions).") var subsetMode: String?
    @Option(help: "Training samples held out (stratified) as the evaluation data instead of the test set.") var holdout: Int?
    @Option(help: "Batches prepared ahead by the loader's thread (default 2).") var prefetch: Int?
    @Option(help: "normalize=channel: per-channel means, comma-separated (default: computed).") var mean: String?
    @Option(help: "normalize=channel: per-channel standard deviations (default: computed).") var std: String?

    /// The training loader's spec; `part` selects the held-out part when --holdout is given.
    func spec(part: String = "train") -> String {
        specText([("batch", batch), ("shuffle", shuffle), ("seed", dataSeed), ("drop_last", dropLast), ("augment", augment),
              ("normalize", normalize), ("subset", subset), ("subset_mode", subsetMode), ("holdout", holdout),
              ("part", holdout == nil ? nil : part), ("prefetch", prefetch), ("mean", mean), ("std", std)])
    }

    /// An evaluation loader over `dataset`: every sample once, in order, unaugmented, normalised
    /// with `training`'s statistics.
    func evaluationLoader(_ dataset: Dataset, like training: Loader) throws -> Loader {
        let loader = try Loader(dataset, spec: specText([("batch", 500), ("shuffle", 0), ("normalize", normalize)]))
        try check(sc_loader_copy_normalization(loader.handle, training.handle))
        return loader
    }

    /// The training loader and the evaluation loader: the held-out part of the training data
    /// with --holdout, else the test split.
    func loaders(_ data: DataOptions) throws -> (train: Loader, eval: Loader) {
        let trainSet = try data.open(split: "train")
        let train = try Loader(trainSet, spec: spec())
        if holdout != nil {
            let held = try Loader(trainSet, spec: spec(part: "holdout").replacingShuffle())
            try check(sc_loader_copy_normalization(held.handle, train.handle))
            return (train, held)
        }
        return (train, try evaluationLoader(try data.open(split: "test"), like: train))
    }
}

private extension String {
    /// The spec with shuffling and augmentation off (evaluation order is the data's).
    func replacingShuffle() -> String {
        split(separator: " ").filter { !$0.hasPrefix("shuffle=") && !$0.hasPrefix("augment=") }
            .joined(separator: " ") + " shuffle=0"
    }
}

/// Model spec keys (sc_model_create); input and classes come from the data.
struct ModelOptions: ParsableArguments {
    @Option(help: "6n+2 layers: 20, 32, 44, 56, 110, ... (default 20).") var depth: Int?
    @Option(help: "caffe (the paper's network, default) or he-a (PyTorch's common CIFAR ResNet).") var variant: String?
    @Option(help: "Seed of the initialisation and the dropout masks (default 1).") var seed: UInt64?
    @Option(help: "BatchNorm moving-average fraction (default 0.95, the paper's value for short runs).") var bnMaf: Double?
    @Option(help: "BatchNorm epsilon (default 1e-5).") var bnEps: Double?
    @Option(help: "Running statistics: caffe (bias-corrected, default) or pytorch (momentum).") var bnStats: String?
    @Option(help: "Inference normalises with global (running, default) or batch statistics.") var bnEval: String?
    @Option(help: "Dropout probability before the classifier (default 0).") var dropout: Double?

    func spec(for dataset: Dataset) -> String {
        let info = dataset.info
        return specText([("depth", depth), ("variant", variant), ("input", "\(info.channels)x\(info.height)x\(info.width)"),
                     ("classes", info.classes), ("seed", seed), ("bn_maf", bnMaf), ("bn_eps", bnEps),
                     ("bn_stats", bnStats), ("bn_eval", bnEval), ("dropout", dropout)])
    }
}

/// Trainer spec keys (sc_trainer_create): the optimizer and evaluation batching.
struct OptimizerOptions: ParsableArguments {
    @Option(help: "sgd (default), nesterov, adagrad, adadelta, adam or adamw.") var optimizer: String?
    @Option(help: "sgd/nesterov update form: caffe (default, v = m*v + lr*g) or pytorch (v = m*v + g).") var form: String?
    @Option(help: "L2 weight decay (default 1e-4; decoupled for adamw).") var weightDecay: Double?
    @Option(help: "adadelta's decay of its running averages (default 0.95).") var rho: Double?
    @Option(help: "adagrad/adadelta/adam denominator term (default 1e-8).") var eps: Double?
    @Option(help: "adam's second-moment decay (default 0.999; beta1 is the momentum).") var beta2: Double?
    @Option(help: "Clip gradients to this global L2 norm; 0 = off (default).") var clip: Double?
    @Option(help: "Samples per forward pass in evaluation (default 250).") var evalBatch: Int?

    func spec(momentum: Double? = nil) -> String {
        specText([("optimizer", optimizer), ("form", form), ("weight_decay", weightDecay), ("rho", rho), ("eps", eps),
              ("beta2", beta2), ("clip", clip), ("eval_batch", evalBatch), ("momentum", momentum)])
    }
}

/// Schedule spec keys (sc_schedule_create). Keys a policy needs to know the run's length are
/// derived from the budget when not given.
struct ScheduleOptions: ParsableArguments {
    @Option(help: """
        fixed, step, multistep, exp, poly, triangular, triangular2, exp_range, onecycle (Smith's, \
        linear), onecycle_cosine (PyTorch's OneCycleLR), sgdr, linear_ramp or exp_ramp.
        """)
    var policy: String?
    @Option(help: "Base (lowest) learning rate.") var baseLr: Double?
    @Option(help: "Peak learning rate of the cyclical policies (the paper: 3 at batch 1000).") var maxLr: Double?
    @Option(help: "Momentum, or high,low to cycle it against the learning rate.") var momentum: String?
    @Option(help: "Iterations of a half cycle (step: between decays). Default for one cycle: 45% of the run.") var stepsize: Int?
    @Option(help: "Iterations down for triangular policies (default: stepsize).") var stepsizeDown: Int?
    @Option(help: "Decay factor (step, multistep, exp, exp_range).") var gamma: Double?
    @Option(help: "multistep's decay iterations, comma-separated (default: 5/8 and 7/8 of the run, the paper's 50k,70k of 80k).")
    var stepvalues: String?
    @Option(help: "poly's exponent.") var power: Double?
    @Option(help: "Last iteration of poly, onecycle, ramps (default: the run's length).") var maxIter: Int?
    @Option(help: "onecycle's final lr as a fraction of base_lr (default 0.001).") var annihilation: Double?
    @Option(help: "onecycle_cosine's length (default: the run's length).") var totalSteps: Int?
    @Option(help: "onecycle_cosine's fraction of rising steps (default 0.3).") var pctStart: Double?
    @Option(help: "onecycle_cosine: initial lr = max_lr/div (default 25).") var div: Double?
    @Option(help: "onecycle_cosine: final lr = initial/final_div (default 1e4).") var finalDiv: Double?
    @Option(help: "onecycle_cosine: 1 for three phases (fastai's old form).") var threePhase: Int?
    @Option(help: "onecycle_cosine's annealing: cos (default) or linear.") var anneal: String?
    @Option(help: "sgdr's first period.") var t0: Int?
    @Option(help: "sgdr's period growth factor.") var tMult: Int?
    @Option(help: "sgdr's lowest learning rate.") var etaMin: Double?
    @Option(help: "Iterations of linear warm-up in front of the policy.") var warmup: Int?

    /// The schedule's spec for a run of `total` iterations.
    func spec(defaultPolicy: String, total: Int) -> String {
        let policy = self.policy ?? defaultPolicy
        var stepsize = self.stepsize, maxIter = self.maxIter, totalSteps = self.totalSteps
        var stepvalues = self.stepvalues
        switch policy {
        case "onecycle":
            maxIter = maxIter ?? total
            stepsize = stepsize ?? max(1, (maxIter! * 9) / 20)
        case "triangular", "triangular2", "exp_range":
            stepsize = stepsize ?? max(1, total / 2)
        case "onecycle_cosine":
            totalSteps = totalSteps ?? total
        case "multistep":
            stepvalues = stepvalues ?? "\(max(1, total * 5 / 8)),\(max(1, total * 7 / 8))"
        case "poly", "linear_ramp", "exp_ramp":
            maxIter = maxIter ?? total
        default:
            break
        }
        return specText([("policy", policy), ("base_lr", baseLr), ("max_lr", maxLr), ("momentum", momentum),
                      ("stepsize", stepsize), ("stepsize_down", stepsizeDown), ("gamma", gamma),
                      ("stepvalues", stepvalues), ("power", power), ("max_iter", maxIter),
                      ("annihilation", annihilation), ("total_steps", totalSteps), ("pct_start", pctStart),
                      ("div", div), ("final_div", finalDiv), ("three_phase", threePhase), ("anneal", anneal),
                      ("t0", t0), ("t_mult", tMult), ("eta_min", etaMin), ("warmup", warmup)])
    }
}

/// Estimator spec keys (sc_trainer_attach_lr_estimator), prefixed --estimator-.
struct EstimatorOptions: ParsableArguments {
    @Option(name: .customLong("estimator-alpha"), help: "Weight of each new estimate in the running average (default 0.1).")
    var alpha: Double?
    @Option(name: .customLong("estimator-initial"), help: "Starting value of the running average (default 0.1).")
    var initial: Double?
    @Option(name: .customLong("estimator-norm"), help: "l1 (the authors') or l2.") var norm: String?
    @Option(name: .customLong("estimator-inc"), help: "Iterations between parameter snapshots (default 1).") var inc: Int?
    @Option(name: .customLong("estimator-params"), help: "trainable (default), or all (BN statistics too).")
    var params: String?

    var spec: String {
        specText([("alpha", alpha), ("initial", initial), ("norm", norm), ("inc", inc), ("params", params)])
    }
}

/// The run folder: run file, checkpoints, range-test records.
struct OutputOptions: ParsableArguments {
    @Option(help: "Folder for the run's files (default: runs/<command>-<date>-<time>).")
    var out: String?

    func folder(for command: String) throws -> String {
        let path = out ?? "runs/\(command)-\(timestamp())"
        try makeDirectories(path)
        return path
    }
}

private func timestamp() -> String {
    var t = time(nil)
    var parts = tm()
    localtime_r(&t, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    strftime(&buffer, 32, "%Y%m%d-%H%M%S", &parts)
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// mkdir -p, with a message naming the folder that could not be made.
func makeDirectories(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw CommandFailure("cannot create the folder \(prefix): \(String(cString: strerror(errno)))", exitCode: 73)
        }
    }
}

/// A failure of the command itself (not of a library call), with its exit code.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32
    init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}
