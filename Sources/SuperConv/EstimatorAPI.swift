import SuperConvCore

final class EstimatorHandle: HandleObject, SpecifiedHandle {
    var estimator: LearningRateEstimator
    let spec: OwnedCString

    init(_ configuration: EstimatorConfiguration) {
        estimator = configuration.makeEstimator()
        spec = OwnedCString(configuration.spec.normalized)
    }
}

func resolveEstimator(_ handle: OpaquePointer?) throws -> EstimatorHandle {
    try resolveHandle(handle, as: EstimatorHandle.self, "e", kind: "sc_lr_estimator")
}

@_cdecl("sc_lr_estimator_create")
public func sc_lr_estimator_create(_ spec: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_lr_estimator_create", out) {
        return EstimatorHandle(try EstimatorConfiguration(spec: specText(spec)))
    }
}

@_cdecl("sc_lr_estimator_destroy")
public func sc_lr_estimator_destroy(_ e: OpaquePointer?) {
    releaseHandle(e, as: EstimatorHandle.self)
}

@_cdecl("sc_lr_estimator_spec")
public func sc_lr_estimator_spec(_ e: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_lr_estimator_spec", e) { try resolveEstimator($0) }
}

@_cdecl("sc_lr_estimator_observe")
public func sc_lr_estimator_observe(_ e: OpaquePointer?, _ theta: UnsafePointer<Float>?, _ len: Int64, _ lrUsed: Float,
                                    _ raw: UnsafeMutablePointer<Float>?, _ smoothed: UnsafeMutablePointer<Float>?) -> Int32 {
    exported("sc_lr_estimator_observe") {
        let handle = try resolveEstimator(e)
        let theta = try required(theta, "theta")
        guard len >= 1, len <= Int64(Int32.max) else {
            throw SuperConvError.invalidArgument("len = \(len) is out of range; expected 1...\(Int32.max)")
        }
        guard lrUsed.isFinite, lrUsed >= 0 else {
            throw SuperConvError.invalidArgument("lr_used = \(lrUsed); expected a finite value >= 0")
        }
        let buffer = UnsafeBufferPointer(start: theta, count: Int(len))
        guard !buffer.contains(where: { !$0.isFinite }) else {
            throw SuperConvError.nonFinite("theta has a non-finite value; the estimator is unchanged")
        }
        let result = try handle.estimator.observe(buffer, learningRate: Double(lrUsed))
        raw?.pointee = Float(result.raw)
        smoothed?.pointee = Float(result.smoothed)
    }
}
