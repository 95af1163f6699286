import ArgumentParser
import CSuperConv
import Glibc
import SuperConvCore

// Flags mirror the library's spec keys (underscores become dashes: bn_maf is --bn-maf). A flag
// that is not given is not passed, so the library's default applies; the library checks every
// value and its message names the key. Their help is the key's description and default in the
// library's schema, so that the command, the header and the library cannot drift apart.

/// A spec key's flag help: its description and default from `schema`, then `note`. The default
/// is left out where the command passes the flag's own (ArgumentParser then shows that).
func keyHelp(_ schema: SpecSchema, _ name: String, showingDefault: Bool = true, note: String = "") -> ArgumentHelp {
    guard let key = schema.key(name) else { preconditionFailure("the \(schema.subject) spec has no key \(name)") }
    return flagHelp(key.help, defaults: showingDefault && !key.defaultValue.isEmpty ? key.defaultValue : nil, note: note)
}

/// A schedule key's flag help: its description and its default under each policy that takes it,
/// the most common one first: "(default 0.1; multistep 0.35, linear_ramp 0)".
func scheduleKeyHelp(_ name: String, note: String = "") -> ArgumentHelp {
    var policiesByDefault: [(value: String, policies: [String])] = []
    var description = ""
    for policy in ScheduleConfiguration.policies {
        guard let key = ScheduleConfiguration.schema(for: policy).key(name) else { continue }
        description = key.help
        if let i = policiesByDefault.firstIndex(where: { $0.value == key.defaultValue }) {
            policiesByDefault[i].policies.append(policy)
        } else {
            policiesByDefault.append((key.defaultValue, [policy]))
        }
    }
    guard !description.isEmpty else { preconditionFailure("no schedule policy has the key \(name)") }
    let ordered = policiesByDefault.enumerated().sorted {
        ($0.element.policies.count, -$0.offset) > ($1.element.policies.count, -$1.offset)
    }.map(\.element)
    let others = ordered.dropFirst().map { "\($0.policies.joined(separator: ", ")) \($0.value)" }
    return flagHelp(description, defaults: ([ordered[0].value] + others).joined(separator: "; "), note: note)
}

private func flagHelp(_ description: String, defaults: String?, note: String) -> ArgumentHelp {
    ArgumentHelp(description + (defaults.map { " (default \($0))" } ?? "") + "." + note)
}

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
    private static let schema = LoaderConfiguration.schema
    @Option(help: keyHelp(schema, "batch")) var batch: Int?
    @Option(help: keyHelp(schema, "shuffle")) var shuffle: Int?
    @Option(help: keyHelp(schema, "seed", note: " The loader's key seed.")) var dataSeed: UInt64?
    @Option(help: keyHelp(schema, "drop_last")) var dropLast: Int?
    @Option(help: keyHelp(schema, "augment")) var augment: String?
    @Option(help: keyHelp(schema, "normalize", showingDefault: false)) var normalize = "pixel"
    @Option(help: keyHelp(schema, "subset")) var subset: Int?
    @Option(help: keyHelp(schema, "subset_mode")) var subsetMode: String?
    @Option(help: keyHelp(schema, "holdout", note: " They are the evaluation data instead of the test set."))
    var holdout: Int?
    @Option(help: keyHelp(schema, "prefetch")) var prefetch: Int?
    @Option(help: keyHelp(schema, "mean")) var mean: String?
    @Option(help: keyHelp(schema, "std")) var std: String?

    /// The training loader's spec; `part` selects the held-out part when --holdout is given.
    /// `shard`: "RANK/WORLD" in a distributed run (each rank's part of every epoch), else nil.
    func spec(part: String = "train", shard: String? = nil) -> String {
        specText([("batch", batch), ("shuffle", shuffle), ("seed", dataSeed), ("drop_last", dropLast), ("augment", augment),
              ("normalize", normalize), ("subset", subset), ("subset_mode", subsetMode), ("holdout", holdout),
              ("part", holdout == nil ? nil : part), ("prefetch", prefetch), ("mean", mean), ("std", std), ("shard", shard)])
    }

    /// An evaluation loader over `dataset`: every sample once, in order, unaugmented, normalised
    /// with `training`'s statistics (in a distributed run, this rank's shard of them).
    func evaluationLoader(_ dataset: Dataset, like training: Loader, shard: String? = nil) throws -> Loader {
        let loader = try Loader(dataset, spec: specText([("batch", 500), ("shuffle", 0), ("normalize", normalize),
                                                         ("shard", shard)]))
        try check(sc_loader_copy_normalization(loader.handle, training.handle))
        return loader
    }

    /// The training loader and the evaluation loader: the held-out part of the training data
    /// with --holdout, else the test split.
    func loaders(_ data: DataOptions, shard: String? = nil) throws -> (train: Loader, eval: Loader) {
        let trainSet = try data.open(split: "train")
        let train = try Loader(trainSet, spec: spec(shard: shard))
        if holdout != nil {
            let held = try Loader(trainSet, spec: spec(part: "holdout", shard: shard).replacingShuffle())
            try check(sc_loader_copy_normalization(held.handle, train.handle))
            return (train, held)
        }
        return (train, try evaluationLoader(try data.open(split: "test"), like: train, shard: shard))
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
    private static let schema = ModelConfiguration.schema
    @Option(help: keyHelp(schema, "depth")) var depth: Int?
    @Option(help: keyHelp(schema, "variant")) var variant: String?
    @Option(help: keyHelp(schema, "seed")) var seed: UInt64?
    @Option(help: keyHelp(schema, "bn_maf")) var bnMaf: Double?
    @Option(help: keyHelp(schema, "bn_eps")) var bnEps: Double?
    @Option(help: keyHelp(schema, "bn_stats")) var bnStats: String?
    @Option(help: keyHelp(schema, "bn_eval")) var bnEval: String?
    @Option(help: keyHelp(schema, "dropout")) var dropout: Double?

    func spec(for dataset: Dataset) -> String {
        let info = dataset.info
        return specText([("depth", depth), ("variant", variant), ("input", "\(info.channels)x\(info.height)x\(info.width)"),
                     ("classes", info.classes), ("seed", seed), ("bn_maf", bnMaf), ("bn_eps", bnEps),
                     ("bn_stats", bnStats), ("bn_eval", bnEval), ("dropout", dropout)])
    }
}

/// Trainer spec keys (sc_trainer_create): the optimizer and evaluation batching.
struct OptimizerOptions: ParsableArguments {
    private static let schema = TrainerConfiguration.schema
    @Option(help: keyHelp(schema, "optimizer")) var optimizer: String?
    @Option(help: keyHelp(schema, "form")) var form: String?
    @Option(help: keyHelp(schema, "weight_decay")) var weightDecay: Double?
    @Option(help: keyHelp(schema, "rho")) var rho: Double?
    @Option(help: keyHelp(schema, "eps")) var eps: Double?
    @Option(help: keyHelp(schema, "beta2")) var beta2: Double?
    @Option(help: keyHelp(schema, "clip")) var clip: Double?
    @Option(help: keyHelp(schema, "eval_batch")) var evalBatch: Int?

    func spec(momentum: Double? = nil) -> String {
        specText([("optimizer", optimizer), ("form", form), ("weight_decay", weightDecay), ("rho", rho), ("eps", eps),
              ("beta2", beta2), ("clip", clip), ("eval_batch", evalBatch), ("momentum", momentum)])
    }
}

/// Schedule spec keys (sc_schedule_create). Keys a policy needs to know the run's length are
/// derived from the budget when not given.
struct ScheduleOptions: ParsableArguments {
    @Option(help: keyHelp(ScheduleConfiguration.schema(for: "onecycle"), "policy", showingDefault: false,
                          note: " Default: onecycle for train, fixed for estimate-lr."))
    var policy: String?
    @Option(help: scheduleKeyHelp("base_lr")) var baseLr: Double?
    @Option(help: scheduleKeyHelp("max_lr")) var maxLr: Double?
    @Option(help: scheduleKeyHelp("momentum")) var momentum: String?
    @Option(help: scheduleKeyHelp("stepsize", note: " Here onecycle's is 45% of the run, triangular's half of it."))
    var stepsize: Int?
    @Option(help: scheduleKeyHelp("stepsize_down")) var stepsizeDown: Int?
    @Option(help: scheduleKeyHelp("gamma")) var gamma: Double?
    @Option(help: scheduleKeyHelp("stepvalues", note: " Here 5/8 and 7/8 of the run (the paper's 50k,70k of 80k)."))
    var stepvalues: String?
    @Option(help: scheduleKeyHelp("power")) var power: Double?
    @Option(help: scheduleKeyHelp("max_iter", note: " Here poly's, onecycle's and the ramps' is the run's length."))
    var maxIter: Int?
    @Option(help: scheduleKeyHelp("annihilation")) var annihilation: Double?
    @Option(help: scheduleKeyHelp("total_steps", note: " Here the run's length.")) var totalSteps: Int?
    @Option(help: scheduleKeyHelp("pct_start")) var pctStart: Double?
    @Option(help: scheduleKeyHelp("div")) var div: Double?
    @Option(help: scheduleKeyHelp("final_div")) var finalDiv: Double?
    @Option(help: scheduleKeyHelp("three_phase")) var threePhase: Int?
    @Option(help: scheduleKeyHelp("anneal")) var anneal: String?
    @Option(help: scheduleKeyHelp("t0")) var t0: Int?
    @Option(help: scheduleKeyHelp("t_mult")) var tMult: Int?
    @Option(help: scheduleKeyHelp("eta_min")) var etaMin: Double?
    @Option(help: scheduleKeyHelp("warmup")) var warmup: Int?

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
    private static let schema = EstimatorConfiguration.schema
    @Option(name: .customLong("estimator-alpha"), help: keyHelp(schema, "alpha")) var alpha: Double?
    @Option(name: .customLong("estimator-initial"), help: keyHelp(schema, "initial")) var initial: Double?
    @Option(name: .customLong("estimator-norm"), help: keyHelp(schema, "norm")) var norm: String?
    @Option(name: .customLong("estimator-inc"), help: keyHelp(schema, "inc")) var inc: Int?
    @Option(name: .customLong("estimator-params"), help: keyHelp(schema, "params")) var params: String?

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
    var status = stat()
    guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
        throw CommandFailure("cannot create the folder \(path): something else of that name exists", exitCode: 73)
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
