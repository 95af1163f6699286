import SuperConvCore

/// The host's progress callback: iteration, learning rate, batch loss and accuracy.
public typealias ProgressCallback = @convention(c) (UnsafeMutableRawPointer?, Int64, Float, Float, Float) -> Void

/// The host's all-reduce: sums `len` floats in place across ranks, returns an sc_status.
public typealias AllReduceFunction = @convention(c) (UnsafeMutablePointer<Float>?, Int64, UnsafeMutableRawPointer?) -> Int32

final class TrainerHandle: HandleObject, SpecifiedHandle {
    let trainer: Trainer
    /// Kept alive by the trainer so that a model destroyed first cannot be dereferenced.
    let modelHandle: ModelHandle
    let spec: OwnedCString
    var progress: ProgressCallback?
    var progressUser: UnsafeMutableRawPointer?

    init(_ trainer: Trainer, modelHandle: ModelHandle) {
        self.trainer = trainer
        self.modelHandle = modelHandle
        spec = OwnedCString(trainer.configuration.spec.normalized)
    }

    /// The trainer, provided its model is still alive.
    func usable() throws -> Trainer {
        guard !modelHandle.destroyed else {
            throw SuperConvError.state("the trainer's model was destroyed; destroy the trainer first")
        }
        return trainer
    }
}

func resolveTrainer(_ handle: OpaquePointer?) throws -> TrainerHandle {
    try resolveHandle(handle, as: TrainerHandle.self, "t", kind: "sc_trainer")
}

@_cdecl("sc_trainer_create")
public func sc_trainer_create(_ m: OpaquePointer?, _ spec: UnsafePointer<CChar>?,
                              _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_trainer_create", out) {
        let modelHandle = try resolveModel(m)
        let trainer = try Trainer(model: modelHandle.model, configuration: TrainerConfiguration(spec: specText(spec)))
        return TrainerHandle(trainer, modelHandle: modelHandle)
    }
}

@_cdecl("sc_trainer_destroy")
public func sc_trainer_destroy(_ t: OpaquePointer?) {
    releaseHandle(t, as: TrainerHandle.self)
}

@_cdecl("sc_trainer_spec")
public func sc_trainer_spec(_ t: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_trainer_spec", t) { try resolveTrainer($0) }
}

/// The checks shared by step and evaluate: pointers present and n in range.
private func batchArguments(_ x: UnsafePointer<Float>?, _ labels: UnsafePointer<Int32>?, _ n: Int64,
                            maximum: Int) throws -> (UnsafePointer<Float>, UnsafePointer<Int32>, Int) {
    let x = try required(x, "x"), labels = try required(labels, "labels")
    guard n >= 1, n <= Int64(maximum) else {
        throw SuperConvError.invalidArgument("n = \(n) samples is out of range; expected 1...\(maximum)")
    }
    return (x, labels, Int(n))
}

private func report(_ outcome: Trainer.Outcome, _ loss: UnsafeMutablePointer<Float>?,
                    _ correct: UnsafeMutablePointer<Int64>?) {
    loss?.pointee = outcome.loss
    correct?.pointee = Int64(outcome.correct)
}

/// sc_trainer_step and sc_trainer_compute_gradients: a training batch's checks, then `body`.
private func trainingBatch(_ function: StaticString, _ t: OpaquePointer?, _ x: UnsafePointer<Float>?,
                           _ labels: UnsafePointer<Int32>?, _ n: Int64, _ loss: UnsafeMutablePointer<Float>?,
                           _ correct: UnsafeMutablePointer<Int64>?,
                           _ body: (Trainer, UnsafePointer<Float>, UnsafePointer<Int32>, Int) throws -> Trainer.Outcome) -> Int32 {
    exported(function) {
        let trainer = try resolveTrainer(t).usable()
        let (x, labels, n) = try batchArguments(x, labels, n, maximum: ResNet.maximumBatch)
        report(try body(trainer, x, labels, n), loss, correct)
    }
}

@_cdecl("sc_trainer_step")
public func sc_trainer_step(_ t: OpaquePointer?, _ x: UnsafePointer<Float>?, _ labels: UnsafePointer<Int32>?,
                            _ n: Int64, _ loss: UnsafeMutablePointer<Float>?,
                            _ correct: UnsafeMutablePointer<Int64>?) -> Int32 {
    trainingBatch("sc_trainer_step", t, x, labels, n, loss, correct) { try $0.step($1, labels: $2, count: $3) }
}

@_cdecl("sc_trainer_compute_gradients")
public func sc_trainer_compute_gradients(_ t: OpaquePointer?, _ x: UnsafePointer<Float>?, _ labels: UnsafePointer<Int32>?,
                                         _ n: Int64, _ loss: UnsafeMutablePointer<Float>?,
                                         _ correct: UnsafeMutablePointer<Int64>?) -> Int32 {
    trainingBatch("sc_trainer_compute_gradients", t, x, labels, n, loss, correct) {
        try $0.computeGradients($1, labels: $2, count: $3)
    }
}

@_cdecl("sc_trainer_gradients")
public func sc_trainer_gradients(_ t: OpaquePointer?, _ data: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                                 _ len: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_trainer_gradients") {
        let trainer = try resolveTrainer(t).usable()
        let data = try required(data, "data"), len = try required(len, "len")
        data.pointee = trainer.gradients.data
        len.pointee = Int64(trainer.gradients.count)
    }
}

@_cdecl("sc_trainer_apply_gradients")
public func sc_trainer_apply_gradients(_ t: OpaquePointer?) -> Int32 {
    exported("sc_trainer_apply_gradients") {
        _ = try resolveTrainer(t).usable().applyGradients()
    }
}

@_cdecl("sc_trainer_set_allreduce")
public func sc_trainer_set_allreduce(_ t: OpaquePointer?, _ function: AllReduceFunction?, _ user: UnsafeMutableRawPointer?,
                                     _ worldSize: Int32) -> Int32 {
    exported("sc_trainer_set_allreduce") {
        let trainer = try resolveTrainer(t).usable()
        guard let function else {
            try trainer.setAllReduce(nil, worldSize: 1)
            return
        }
        try trainer.setAllReduce({ data, count in
            let status = function(data, Int64(count), user)
            guard status != Status.ok.rawValue else { return }
            let name = Status(rawValue: status)?.name ?? "\(status)"
            throw SuperConvError(Status(rawValue: status) ?? .state,
                                 "the all-reduce function returned \(name); the step was not applied")
        }, worldSize: Int(worldSize))
    }
}

@_cdecl("sc_trainer_average_statistics")
public func sc_trainer_average_statistics(_ t: OpaquePointer?) -> Int32 {
    exported("sc_trainer_average_statistics") { try resolveTrainer(t).usable().averageStatistics() }
}

@_cdecl("sc_trainer_evaluate")
public func sc_trainer_evaluate(_ t: OpaquePointer?, _ x: UnsafePointer<Float>?, _ labels: UnsafePointer<Int32>?,
                                _ n: Int64, _ loss: UnsafeMutablePointer<Float>?,
                                _ correct: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_trainer_evaluate") {
        let trainer = try resolveTrainer(t).usable()
        let (x, labels, n) = try batchArguments(x, labels, n, maximum: Int(Int32.max) / trainer.model.sampleSize)
        let outcome = try trainer.evaluate(x, labels: labels, count: n)
        try recordEvaluation(trainer, loss: outcome.loss, accuracy: Double(outcome.correct) / Double(n))
        report(outcome, loss, correct)
    }
}

@_cdecl("sc_trainer_recompute_statistics")
public func sc_trainer_recompute_statistics(_ t: OpaquePointer?, _ x: UnsafePointer<Float>?, _ n: Int64,
                                            _ batch: Int64) -> Int32 {
    exported("sc_trainer_recompute_statistics") {
        let trainer = try resolveTrainer(t).usable()
        let x = try required(x, "x")
        let maximum = Int(Int32.max) / trainer.model.sampleSize
        guard n >= 1, n <= Int64(maximum) else {
            throw SuperConvError.invalidArgument("n = \(n) samples is out of range; expected 1...\(maximum)")
        }
        guard batch >= 1, batch <= Int64(ResNet.maximumBatch) else {
            throw SuperConvError.invalidArgument("batch = \(batch) is out of range; expected 1...\(ResNet.maximumBatch)")
        }
        let size = Int(batch), count = Int(n), sampleSize = trainer.model.sampleSize
        let batches = stride(from: 0, to: count, by: size).map {
            StatisticsBatch(samples: x + $0 * sampleSize, count: min(size, count - $0))
        }
        try trainer.recomputeStatistics(from: batches)
    }
}

@_cdecl("sc_trainer_interrupt")
public func sc_trainer_interrupt(_ t: OpaquePointer?) -> Int32 {
    exported("sc_trainer_interrupt") { try resolveTrainer(t).trainer.requestInterrupt() }
}

@_cdecl("sc_trainer_iteration")
public func sc_trainer_iteration(_ t: OpaquePointer?, _ iteration: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_trainer_iteration") {
        let handle = try resolveTrainer(t)
        try required(iteration, "iteration").pointee = Int64(handle.trainer.iteration)
    }
}

@_cdecl("sc_trainer_set_schedule")
public func sc_trainer_set_schedule(_ t: OpaquePointer?, _ s: OpaquePointer?) -> Int32 {
    exported("sc_trainer_set_schedule") {
        let trainer = try resolveTrainer(t).usable()
        trainer.setSchedule(try resolveSchedule(s).configuration)
    }
}

@_cdecl("sc_trainer_set_progress")
public func sc_trainer_set_progress(_ t: OpaquePointer?, _ callback: ProgressCallback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    exported("sc_trainer_set_progress") {
        let handle = try resolveTrainer(t)
        handle.progress = callback
        handle.progressUser = user
    }
}

@_cdecl("sc_trainer_attach_lr_estimator")
public func sc_trainer_attach_lr_estimator(_ t: OpaquePointer?, _ spec: UnsafePointer<CChar>?) -> Int32 {
    exported("sc_trainer_attach_lr_estimator") {
        let trainer = try resolveTrainer(t).usable()
        try trainer.attachEstimator(EstimatorConfiguration(spec: specText(spec)))
    }
}

@_cdecl("sc_trainer_record")
public func sc_trainer_record(_ t: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ spec: UnsafePointer<CChar>?) -> Int32 {
    exported("sc_trainer_record") {
        let trainer = try resolveTrainer(t).usable()
        if let current = trainer.recorder {
            // Stopping (or switching files): a last flush, and any failure met while recording.
            trainer.recorder = nil
            try current.flush(trainer)
            if let failure = current.failure { throw failure }
        }
        guard let path else { return }
        let parsed = try RunRecorder.schema.parse(specText(spec))
        let append = try parsed.choice("append", ["0", "1"]) == "1"
        let recorder = try RunRecorder(path: try pathArgument(path),
                                       flushEvery: try parsed.int("flush_every", in: 1...Int(Int32.max)),
                                       continuing: append ? trainer : nil)
        try recorder.flush(trainer)  // fails now, not later, when the file cannot be written
        trainer.recorder = recorder
    }
}

@_cdecl("sc_trainer_train_epoch")
public func sc_trainer_train_epoch(_ t: OpaquePointer?, _ l: OpaquePointer?, _ meanLoss: UnsafeMutablePointer<Float>?,
                                   _ accuracy: UnsafeMutablePointer<Double>?) -> Int32 {
    exported("sc_trainer_train_epoch") {
        let handle = try resolveTrainer(t)
        let trainer = try handle.usable()
        let loader = try resolveLoader(l).loader
        let (callback, user) = (handle.progress, handle.progressUser)
        let result = try trainer.trainEpoch(loader) { iteration, lr, loss, acc in
            callback?(user, Int64(iteration), lr, loss, acc)
        }
        meanLoss?.pointee = Float(result.loss)
        accuracy?.pointee = result.accuracy
    }
}

@_cdecl("sc_trainer_evaluate_loader")
public func sc_trainer_evaluate_loader(_ t: OpaquePointer?, _ l: OpaquePointer?, _ meanLoss: UnsafeMutablePointer<Float>?,
                                       _ accuracy: UnsafeMutablePointer<Double>?) -> Int32 {
    exported("sc_trainer_evaluate_loader") {
        let trainer = try resolveTrainer(t).usable()
        let result = try trainer.evaluate(try resolveLoader(l).loader)
        try recordEvaluation(trainer, loss: Float(result.loss), accuracy: result.accuracy)
        meanLoss?.pointee = Float(result.loss)
        accuracy?.pointee = result.accuracy
    }
}

@_cdecl("sc_trainer_evaluate_dataset")
public func sc_trainer_evaluate_dataset(_ t: OpaquePointer?, _ d: OpaquePointer?, _ spec: UnsafePointer<CChar>?,
                                        _ meanLoss: UnsafeMutablePointer<Float>?, _ accuracy: UnsafeMutablePointer<Double>?) -> Int32 {
    exported("sc_trainer_evaluate_dataset") {
        let trainer = try resolveTrainer(t).usable()
        let dataset = try resolveDataset(d).dataset
        let config = try LoaderConfiguration(spec: "shuffle=0 " + specText(spec))
        guard config.cropPadding == 0 && !config.flip && !config.shuffle && !config.dropLast else {
            throw SuperConvError.invalidArgument("evaluation takes every sample once, in order, unaugmented: drop augment, shuffle and drop_last")
        }
        let result = try trainer.evaluate(try Loader(dataset: dataset, configuration: config))
        try recordEvaluation(trainer, loss: Float(result.loss), accuracy: result.accuracy)
        meanLoss?.pointee = Float(result.loss)
        accuracy?.pointee = result.accuracy
    }
}

@_cdecl("sc_trainer_range_test")
public func sc_trainer_range_test(_ t: OpaquePointer?, _ x: UnsafePointer<Float>?, _ labels: UnsafePointer<Int32>?, _ n: Int64,
                                  _ xEval: UnsafePointer<Float>?, _ labelsEval: UnsafePointer<Int32>?, _ nEval: Int64,
                                  _ spec: UnsafePointer<CChar>?, _ r: OpaquePointer?) -> Int32 {
    exported("sc_trainer_range_test") {
        let handle = try resolveTrainer(t)
        let trainer = try handle.usable()
        let records = try resolveRangeTest(r)
        let x = try required(x, "x"), labels = try required(labels, "labels")
        let limit = Int64(Int32.max) / Int64(trainer.model.sampleSize)
        guard n >= 1, n <= limit else { throw SuperConvError.invalidArgument("n = \(n) is out of range") }
        guard nEval >= 0, nEval <= limit else { throw SuperConvError.invalidArgument("n_eval = \(nEval) is out of range") }
        if nEval > 0 {
            _ = try required(xEval, "x_eval")
            _ = try required(labelsEval, "labels_eval")
        }
        let config = try RangeTestRunConfiguration(spec: specText(spec))
        try trainer.validateLabels(labels, count: Int(n))
        if let labelsEval, nEval > 0 { try trainer.validateLabels(labelsEval, count: Int(nEval)) }
        let (callback, user) = (handle.progress, handle.progressUser)
        let points = try trainer.rangeTest(config, analyzer: records.analyzer, x: x, labels: labels, count: Int(n),
                                           evalX: xEval, evalLabels: labelsEval, evalCount: Int(nEval)) { i, point in
            callback?(user, Int64(i), Float(point.learningRate), Float(point.trainLoss), Float(point.trainAccuracy))
        }
        records.points = []
        records.plannedPoints = config.iterations
        records.optimizer = trainer.configuration.optimizer.kind
        for p in points { records.append(p) }
    }
}

@_cdecl("sc_trainer_lr_estimate")
public func sc_trainer_lr_estimate(_ t: OpaquePointer?, _ raw: UnsafeMutablePointer<Float>?,
                                   _ smoothed: UnsafeMutablePointer<Float>?) -> Int32 {
    exported("sc_trainer_lr_estimate") {
        let trainer = try resolveTrainer(t).trainer
        guard let estimator = trainer.estimator else {
            throw SuperConvError.state("no estimator is attached; call sc_trainer_attach_lr_estimator first")
        }
        let ready = estimator.observations >= 3
        raw?.pointee = ready ? Float(estimator.raw) : .nan
        smoothed?.pointee = ready ? Float(estimator.smoothed) : .nan
    }
}

/// Appends an evaluation to the trainer's run record, if it records.
func recordEvaluation(_ trainer: Trainer, loss: Float, accuracy: Double) throws {
    try trainer.recorder?.recordEvaluation(trainer, loss: Double(loss), accuracy: accuracy)
}
