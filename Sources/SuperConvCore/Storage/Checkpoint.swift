import Glibc

/// Checkpoints in HDF5: everything a trainer needs to continue bit-identically.
///
/// Layout (format "superconv-checkpoint", version 2):
///   attributes  format, format_version, model_spec, trainer_spec, schedule_spec (empty: the
///               trainer spec's lr and momentum), estimator_spec (empty: none)
///   model/<name>          every named tensor under its PyTorch state_dict name, float32
///   model_state/bn_weight Caffe's accumulated weight s of each BatchNorm, in model order
///   optimizer/<i>         the optimizer's state tensors, in order (velocities, moments)
///   trainer/iteration, trainer/optimizer_steps, trainer/estimator_start   int64 scalars
///   trainer/dropout_rng_state   int64 [4]: the dropout generator's state words
///   estimator/previous, estimator/latest   the estimator's last two snapshots (when attached)
///   estimator/values      int64: observations, and the bit patterns of smoothed and raw
///   loader_position       int64: epoch and batch that the training loader returns next, with
///                         the attribute loader_spec (when the trainer has trained from one)
///   normalization/mean, normalization/inverse_std   that loader's input statistics (when it
///                         normalises), so that data can be prepared the same way later
///
/// Version 1 differs only in the counters: one int64 dataset `counters` holding iteration,
/// optimizer steps, the four generator words and estimator start, in that order. Loading reads
/// both versions; saving writes version 2.
///
/// Saving writes a temporary file in the same folder, flushes and fsyncs it, renames it over the
/// target and fsyncs the folder: a failure or a kill at any moment leaves the previous file.
/// Loading checks the format and every dataset's presence, shape and type before anything is
/// applied; on any mismatch the trainer is unchanged.
public enum Checkpoint {
    static let format = "superconv-checkpoint"
    static let version = "2"
    static let readableVersions = ["1", "2"]

    public static func save(_ trainer: Trainer, to path: String) throws {
        try AtomicFile.write(path) { try write(trainer, to: $0) }
    }

    private static func write(_ trainer: Trainer, to file: HDF5File) throws {
        try file.setAttribute("format", format)
        try file.setAttribute("format_version", version)
        try file.setAttribute("model_spec", trainer.model.configuration.spec.normalized)
        try file.setAttribute("trainer_spec", trainer.configuration.spec.normalized)
        try file.setAttribute("schedule_spec", trainer.scheduleSpec ?? "")
        try file.setAttribute("estimator_spec", trainer.estimatorConfiguration?.spec.normalized ?? "")
        try file.setAttribute("loader_spec", trainer.trainingLoader?.configuration.spec.normalized ?? "")
        if let loader = trainer.trainingLoader {
            let (epoch, batch) = loader.position()
            try file.write("loader_position", integers: [Int64(epoch), Int64(batch)])
            if !loader.mean.isEmpty {
                try file.group("normalization")
                for (name, values) in [("mean", loader.mean), ("inverse_std", loader.inverseStd)] {
                    try values.withUnsafeBufferPointer {
                        try file.write("normalization/" + name, floats: $0.baseAddress!, shape: [$0.count])
                    }
                }
            }
        }
        try file.group("model")
        for p in trainer.model.parameters {
            try file.write("model/\(p.name)", floats: p.value.data, shape: p.value.shape.dimensions)
        }
        try file.group("model_state")
        try trainer.model.statisticsWeights.withUnsafeBufferPointer {
            try file.write("model_state/bn_weight", floats: $0.baseAddress!, shape: [$0.count])
        }
        try file.group("optimizer")
        for (i, tensor) in trainer.optimizer.state.enumerated() {
            try file.write("optimizer/\(i)", floats: tensor.data, shape: [tensor.count])
        }
        let rng = trainer.committedGenerator.state
        try file.group("trainer")
        try file.write("trainer/iteration", integer: Int64(trainer.iteration))
        try file.write("trainer/optimizer_steps", integer: Int64(trainer.optimizer.steps))
        try file.write("trainer/dropout_rng_state", integers: [rng.0, rng.1, rng.2, rng.3].map { Int64(bitPattern: $0) })
        try file.write("trainer/estimator_start", integer: Int64(trainer.estimatorStart))
        if let estimator = trainer.estimator {
            try file.group("estimator")
            try estimator.previous.withUnsafeBufferPointer {
                try file.write("estimator/previous", floats: $0.baseAddress ?? UnsafePointer(bitPattern: 1)!, shape: [$0.count])
            }
            try estimator.latest.withUnsafeBufferPointer {
                try file.write("estimator/latest", floats: $0.baseAddress ?? UnsafePointer(bitPattern: 1)!, shape: [$0.count])
            }
            try file.write("estimator/values", integers: [Int64(estimator.observations),
                                                          Int64(bitPattern: estimator.smoothed.bitPattern),
                                                          Int64(bitPattern: estimator.raw.bitPattern)])
        }
    }

    /// Opens a checkpoint and checks its format tag and that its version is readable.
    static func openChecked(_ path: String) throws -> HDF5File {
        let file = try HDF5File.open(path)
        let tag = try file.attribute("format")
        guard tag == format else { throw SuperConvError.format("\(path): format is '\(tag)', expected '\(format)'") }
        let found = try file.attribute("format_version")
        guard readableVersions.contains(found) else {
            throw SuperConvError.format("\(path): format version '\(found)' is not supported; this library reads versions "
                                        + readableVersions.joined(separator: " and "))
        }
        return file
    }

    struct Counters {
        var iteration: Int
        var optimizerSteps: Int
        var random: RandomGenerator
        var estimatorStart: Int
    }

    /// The trainer's counters, by name (version 2) or by position (version 1), checked for
    /// values no training run can reach.
    static func readCounters(_ file: HDF5File) throws -> Counters {
        let counters: Counters
        let source: String
        if try file.attribute("format_version") == "1" {
            let values = try file.readIntegers("counters", count: 7)
            counters = Counters(iteration: Int(values[0]), optimizerSteps: Int(values[1]),
                                random: generator(Array(values[2..<6])), estimatorStart: Int(values[6]))
            source = "dataset 'counters'"
        } else {
            counters = Counters(iteration: Int(try file.readInteger("trainer/iteration")),
                                optimizerSteps: Int(try file.readInteger("trainer/optimizer_steps")),
                                random: generator(try file.readIntegers("trainer/dropout_rng_state", count: 4)),
                                estimatorStart: Int(try file.readInteger("trainer/estimator_start")))
            source = "group 'trainer'"
        }
        // Iterations are int32 wherever they cross the C ABI (schedules, sc_optimizer_state_set).
        let reachable = 0...Int(Int32.max)
        guard reachable.contains(counters.iteration), reachable.contains(counters.optimizerSteps), counters.estimatorStart >= 0,
              counters.estimatorStart <= counters.iteration else {
            throw SuperConvError.format("\(file.path): the counters in \(source) are impossible: iteration \(counters.iteration), "
                                        + "optimizer steps \(counters.optimizerSteps), estimator start \(counters.estimatorStart)")
        }
        return counters
    }

    private static func generator(_ words: [Int64]) -> RandomGenerator {
        RandomGenerator(state: (UInt64(bitPattern: words[0]), UInt64(bitPattern: words[1]),
                                UInt64(bitPattern: words[2]), UInt64(bitPattern: words[3])))
    }

    /// Makes `loader` normalise with the statistics of the loader the checkpoint's trainer last
    /// trained from.
    public static func loadNormalization(into loader: Loader, from path: String) throws {
        try HDF5Lock.serialized {
            let file = try openChecked(path)
            let spec = try file.attribute("loader_spec")
            guard !spec.isEmpty, file.exists("normalization/mean") else {
                throw SuperConvError.state("\(path) holds no input statistics: its trainer did not train from a loader that normalises")
            }
            let mode = try LoaderConfiguration(spec: spec).normalization
            var columns: [[Float]] = []
            for name in ["normalization/mean", "normalization/inverse_std"] {
                let shape = try file.shape(name)
                guard shape.count == 1, shape[0] > 0 else {
                    throw SuperConvError.format("\(path): dataset '\(name)' has shape \(shape), expected one non-empty axis")
                }
                let count = shape[0]
                var values = [Float](repeating: 0, count: count)
                try values.withUnsafeMutableBufferPointer { try file.read(name, floatsInto: $0.baseAddress!, shape: [count]) }
                try checkFinite(values, name, file)
                columns.append(values)
            }
            if let bad = columns[1].firstIndex(where: { $0 <= 0 }) {
                throw SuperConvError.format("\(path): dataset 'normalization/inverse_std' holds \(columns[1][bad]) at \(bad); it must be positive")
            }
            try loader.setNormalization(mode, mean: columns[0], inverseStd: columns[1], source: "the checkpoint \(path)")
        }
    }

    /// Reads the model's named tensors and BN weights into buffers, checking every shape.
    static func readModel(_ file: HDF5File, for model: ResNet) throws -> ([[Float]], [Float]) {
        var tensors: [[Float]] = []
        for p in model.parameters {
            var values = [Float](repeating: 0, count: p.value.count)
            do {
                try values.withUnsafeMutableBufferPointer {
                    try file.read("model/\(p.name)", floatsInto: $0.baseAddress!, shape: p.value.shape.dimensions)
                }
            } catch let error as SuperConvError where error.status == .format {
                // Say why the tensors do not fit when the models differ.
                let saved = (try? file.attribute("model_spec")) ?? "?"
                let ours = model.configuration.spec.normalized
                throw saved == ours ? error
                    : SuperConvError.format("\(error.message); the checkpoint's model is '\(saved)', this one '\(ours)'")
            }
            try checkFinite(values, "model/\(p.name)", file)
            if p.name.hasSuffix(".running_var"), let bad = values.firstIndex(where: { $0 < 0 }) {
                throw SuperConvError.format("\(file.path): dataset 'model/\(p.name)' holds the negative variance \(values[bad]) at \(bad)")
            }
            tensors.append(values)
        }
        var weights = [Float](repeating: 0, count: model.statisticsWeights.count)
        try weights.withUnsafeMutableBufferPointer {
            try file.read("model_state/bn_weight", floatsInto: $0.baseAddress!, shape: [$0.count])
        }
        try checkFinite(weights, "model_state/bn_weight", file)
        return (tensors, weights)
    }

    /// A checkpoint's values pass the checks that sc_model_param_set and sc_optimizer_state_set
    /// make of a caller's.
    private static func checkFinite(_ values: [Float], _ name: String, _ file: HDF5File) throws {
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw SuperConvError.format("\(file.path): dataset '\(name)' holds \(values[bad]) at \(bad); values must be finite")
        }
    }

    public static func load(_ trainer: Trainer, from path: String) throws {
        try HDF5Lock.serialized {
            let file = try openChecked(path)
            let (tensors, weights) = try readModel(file, for: trainer.model)
            var optimizerState: [[Float]] = []
            for (i, tensor) in trainer.optimizer.state.enumerated() {
                var values = [Float](repeating: 0, count: tensor.count)
                try values.withUnsafeMutableBufferPointer {
                    try file.read("optimizer/\(i)", floatsInto: $0.baseAddress!, shape: [tensor.count])
                }
                try checkFinite(values, "optimizer/\(i)", file)
                optimizerState.append(values)
            }
            if file.exists("optimizer/\(trainer.optimizer.state.count)") {
                throw SuperConvError.format("\(path): the checkpoint's optimizer has more state than this trainer's (\(trainer.configuration.optimizer.kind.rawValue))")
            }
            let counters = try readCounters(file)
            let scheduleText = try file.attribute("schedule_spec")
            let schedule = scheduleText.isEmpty ? nil : try ScheduleConfiguration(spec: scheduleText)
            let estimatorText = try file.attribute("estimator_spec")
            var estimator: (EstimatorConfiguration, LearningRateEstimator)?
            if !estimatorText.isEmpty {
                let config = try EstimatorConfiguration(spec: estimatorText)
                var state = config.makeEstimator()
                let length = try file.shape("estimator/latest")
                let values = try file.readIntegers("estimator/values", count: 3)
                // Snapshots are empty before the first observation, and then as long as the
                // trainer's: another length would fail every later step after its update.
                let expected = values[0] == 0 ? 0 : trainer.estimatorSnapshotLength(config)
                guard length == [expected], (0...Int64(Int32.max)).contains(values[0]) else {
                    throw SuperConvError.format("\(path): dataset 'estimator/latest' has shape \(length) after \(values[0]) observations, "
                                                + "expected [\(expected)] (this trainer's snapshots under '\(estimatorText)')")
                }
                state.previous = [Float](repeating: 0, count: length[0])
                state.latest = [Float](repeating: 0, count: length[0])
                try state.previous.withUnsafeMutableBufferPointer {
                    try file.read("estimator/previous", floatsInto: $0.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!, shape: length)
                }
                try state.latest.withUnsafeMutableBufferPointer {
                    try file.read("estimator/latest", floatsInto: $0.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!, shape: length)
                }
                try checkFinite(state.previous, "estimator/previous", file)
                try checkFinite(state.latest, "estimator/latest", file)
                state.observations = Int(values[0])
                state.smoothed = Double(bitPattern: UInt64(bitPattern: values[1]))
                state.raw = Double(bitPattern: UInt64(bitPattern: values[2]))
                guard state.smoothed.isFinite, state.raw.isFinite || state.raw.isNaN else {
                    throw SuperConvError.format("\(path): dataset 'estimator/values' holds the estimates \(state.smoothed) and \(state.raw)")
                }
                estimator = (config, state)
            }
            let loaderText = try file.attribute("loader_spec")
            var loaderPosition: (spec: String, epoch: Int, batch: Int)?
            if !loaderText.isEmpty {
                let position = try file.readIntegers("loader_position", count: 2)
                guard (0...Int64(Int32.max)).contains(position[0]), (0...Int64(Int32.max)).contains(position[1]) else {
                    throw SuperConvError.format("\(path): dataset 'loader_position' holds \(position)")
                }
                loaderPosition = (loaderText, Int(position[0]), Int(position[1]))
            }
            // Everything is read and checked: apply.
            let fixed = FixedSchedule(learningRate: Double(trainer.configuration.learningRate),
                                      momentum: Double(trainer.configuration.momentum))
            trainer.restoreState(TrainerState(tensors: tensors, statisticsWeights: weights, optimizerState: optimizerState,
                                              optimizerSteps: counters.optimizerSteps, random: counters.random,
                                              iteration: counters.iteration,
                                              schedule: schedule?.schedule ?? fixed, estimator: nil))
            trainer.scheduleSpec = schedule?.spec.normalized
            trainer.pendingLoaderPosition = loaderPosition
            if let (config, state) = estimator {
                trainer.restoreEstimator(config, state, start: counters.estimatorStart)
            } else {
                trainer.estimatorConfiguration = nil
            }
        }
    }

    /// A model for inference from a checkpoint: built from its model_spec, weights loaded.
    public static func loadModel(from path: String) throws -> ResNet {
        return try HDF5Lock.serialized {
            let file = try openChecked(path)
            let model = try ResNet(ModelConfiguration(spec: try file.attribute("model_spec")))
            let (tensors, weights) = try readModel(file, for: model)
            for (p, values) in zip(model.parameters, tensors) { values.withUnsafeBufferPointer { p.value.copy(from: $0.baseAddress!) } }
            model.statisticsWeights = weights
            return model
        }
    }
}
