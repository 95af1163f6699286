import SuperConvCore

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

@_cdecl("sc_trainer_step")
public func sc_trainer_step(_ t: OpaquePointer?, _ x: UnsafePointer<Float>?, _ labels: UnsafePointer<Int32>?,
                            _ n: Int64, _ loss: UnsafeMutablePointer<Float>?,
                            _ correct: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_trainer_step") {
        let trainer = try resolveTrainer(t).usable()
        let (x, labels, n) = try batchArguments(x, labels, n, maximum: ResNet.maximumBatch)
        report(try trainer.step(x, labels: labels, count: n), loss, correct)
    }
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
