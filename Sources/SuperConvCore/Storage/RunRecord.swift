import Glibc

/// A training run's records, kept in memory and written to an HDF5 run file:
///   attributes  format ("superconv-run"), format_version, model_spec, trainer_spec,
///               schedule_spec
///   iterations/{iteration, lr, momentum, loss, accuracy, time, lr_estimate, lr_estimate_smoothed}
///   evaluations/{iteration, loss, accuracy, time}
/// one row per training step and per evaluation; time in seconds since recording began;
/// estimates NaN when no estimator is attached or before its third snapshot. The file is
/// rewritten atomically (temporary file, fsync, rename) at every evaluation, every `flushEvery`
/// steps and when recording stops, so a run killed midway keeps its records up to the last
/// flush.
public final class RunRecorder {
    public static let schema = SpecSchema(subject: "record", keys: [
        .init("flush_every", "100", "steps between rewrites of the run file (evaluations always rewrite it)"),
        .init("append", "0", "1: keep the file's rows up to the trainer's iteration and go on from them "
              + "(continuing a run resumed from a checkpoint)"),
    ])

    public let path: String
    public let flushEvery: Int
    private let start: Double
    private var steps: [[Double]] = Array(repeating: [], count: 8)
    private var evaluations: [[Double]] = Array(repeating: [], count: 4)
    private var unflushed = 0
    /// The first failure to write the file during steps; steps themselves never fail because of
    /// the record (their update has been applied), so it is reported when recording stops.
    public private(set) var failure: SuperConvError?

    /// With `continuing`, the rows already in the file at `path` up to the trainer's iteration
    /// are kept (rows after it came from steps that a resumed checkpoint does not contain) and
    /// times go on from the last kept row; a missing file starts an empty record.
    public init(path: String, flushEvery: Int, continuing trainer: Trainer? = nil) throws {
        self.path = path
        self.flushEvery = flushEvery
        var elapsed = 0.0
        if let trainer, access(path, F_OK) == 0 {
            (steps, evaluations) = try HDF5Lock.serialized {
                let file = try HDF5File.open(path)
                guard (try? file.attribute("format")) == "superconv-run" else {
                    throw SuperConvError.format("\(path) is not a superconv run file; cannot continue its record")
                }
                return (try Self.rows(file, "iterations", Self.stepColumns, upTo: trainer.iteration),
                        try Self.rows(file, "evaluations", Self.evaluationColumns, upTo: trainer.iteration))
            }
            elapsed = max(steps[5].last ?? 0, evaluations[3].last ?? 0)
        }
        start = monotonicSeconds() - elapsed
    }

    static let stepColumns = ["iteration", "lr", "momentum", "loss", "accuracy", "time", "lr_estimate",
                              "lr_estimate_smoothed"]
    static let evaluationColumns = ["iteration", "loss", "accuracy", "time"]

    /// The columns of `group` (iteration first), without the rows after `last`.
    private static func rows(_ file: HDF5File, _ group: String, _ names: [String], upTo last: Int) throws -> [[Double]] {
        let count = try file.shape(group + "/iteration").first ?? 0
        let iterations = try file.readIntegers(group + "/iteration", count: count)
        let kept = iterations.prefix { $0 <= Int64(last) }.count
        var columns = [iterations.prefix(kept).map(Double.init)]
        for name in names.dropFirst() {
            var values = [Float](repeating: 0, count: count)
            try values.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                try file.read(group + "/" + name, floatsInto: base, shape: [count])
            }
            columns.append(values.prefix(kept).map(Double.init))
        }
        return columns
    }

    func recordStep(_ trainer: Trainer, iteration: Int, hyper: StepHyperparameters, outcome: Trainer.Outcome, batch: Int) {
        let ready = (trainer.estimator?.observations ?? 0) >= 3
        let row = [Double(iteration), Double(hyper.learningRate), Double(hyper.momentum), Double(outcome.loss),
                   Double(outcome.correct) / Double(batch), monotonicSeconds() - start,
                   ready ? trainer.estimator!.raw : .nan, ready ? trainer.estimator!.smoothed : .nan]
        for (i, value) in row.enumerated() { steps[i].append(value) }
        unflushed += 1
        if unflushed >= flushEvery {
            do { try flush(trainer) } catch let error as SuperConvError { failure = failure ?? error } catch {}
        }
    }

    public func recordEvaluation(_ trainer: Trainer, loss: Double, accuracy: Double) throws {
        let row = [Double(trainer.iteration), loss, accuracy, monotonicSeconds() - start]
        for (i, value) in row.enumerated() { evaluations[i].append(value) }
        try flush(trainer)
    }

    public func flush(_ trainer: Trainer) throws {
        try AtomicFile.write(path) { file in
            try file.setAttribute("format", "superconv-run")
            try file.setAttribute("format_version", "1")
            try file.setAttribute("model_spec", trainer.model.configuration.spec.normalized)
            try file.setAttribute("trainer_spec", trainer.configuration.spec.normalized)
            try file.setAttribute("schedule_spec", trainer.scheduleSpec ?? "")
            try file.group("iterations")
            for (name, column) in zip(Self.stepColumns, steps) {
                try write(file, "iterations/" + name, column, integer: name == "iteration")
            }
            try file.group("evaluations")
            for (name, column) in zip(Self.evaluationColumns, evaluations) {
                try write(file, "evaluations/" + name, column, integer: name == "iteration")
            }
        }
        unflushed = 0
    }

    private func write(_ file: HDF5File, _ name: String, _ column: [Double], integer: Bool) throws {
        if integer {
            try file.write(name, integers: column.map { Int64($0) })
        } else {
            let values = column.map(Float.init)
            try values.withUnsafeBufferPointer {
                try file.write(name, floats: $0.baseAddress ?? UnsafePointer(bitPattern: 4)!, shape: [values.count])
            }
        }
    }
}
