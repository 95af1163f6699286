import SuperConvCore

final class LoaderHandle: HandleObject, SpecifiedHandle {
    let loader: Loader
    let spec: OwnedCString

    init(_ loader: Loader) {
        self.loader = loader
        spec = OwnedCString(loader.configuration.spec.normalized)
    }
}

func resolveLoader(_ handle: OpaquePointer?, _ argument: String = "l") throws -> LoaderHandle {
    try resolveHandle(handle, as: LoaderHandle.self, argument, kind: "sc_loader")
}

/// The host's progress callback: iteration, learning rate, batch loss and accuracy.
public typealias ProgressCallback = @convention(c) (UnsafeMutableRawPointer?, Int64, Float, Float, Float) -> Void

@_cdecl("sc_loader_create")
public func sc_loader_create(_ d: OpaquePointer?, _ spec: UnsafePointer<CChar>?,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_loader_create", out) {
        let dataset = try resolveDataset(d).dataset
        return LoaderHandle(try Loader(dataset: dataset, configuration: LoaderConfiguration(spec: specText(spec))))
    }
}

@_cdecl("sc_loader_destroy")
public func sc_loader_destroy(_ l: OpaquePointer?) {
    releaseHandle(l, as: LoaderHandle.self) { $0.loader.pause() }
}

@_cdecl("sc_loader_spec")
public func sc_loader_spec(_ l: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_loader_spec", l) { try resolveLoader($0) }
}

@_cdecl("sc_loader_info")
public func sc_loader_info(_ l: OpaquePointer?, _ samples: UnsafeMutablePointer<Int64>?,
                           _ batches: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_loader_info") {
        let loader = try resolveLoader(l).loader
        samples?.pointee = Int64(loader.indices.count)
        batches?.pointee = Int64(loader.batchesPerEpoch)
    }
}

@_cdecl("sc_loader_next")
public func sc_loader_next(_ l: OpaquePointer?, _ x: UnsafeMutablePointer<Float>?, _ labels: UnsafeMutablePointer<Int32>?,
                           _ capacity: Int64, _ n: UnsafeMutablePointer<Int64>?, _ epochDone: UnsafeMutablePointer<Int32>?) -> Int32 {
    exported("sc_loader_next") {
        let loader = try resolveLoader(l).loader
        let x = try required(x, "x"), labels = try required(labels, "labels")
        guard capacity >= 0, capacity <= Int64(Int32.max) else {
            throw SuperConvError.invalidArgument("capacity = \(capacity) is out of range")
        }
        let batch = try loader.next(into: x, labels: labels, capacity: Int(capacity))
        n?.pointee = Int64(batch.count)
        epochDone?.pointee = batch.lastOfEpoch ? 1 : 0
    }
}

@_cdecl("sc_loader_copy_normalization")
public func sc_loader_copy_normalization(_ target: OpaquePointer?, _ source: OpaquePointer?) -> Int32 {
    exported("sc_loader_copy_normalization") {
        try resolveLoader(target, "target").loader.copyNormalization(from: try resolveLoader(source, "source").loader)
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
