import SuperConvCore

/// A standalone optimizer over one flat parameter buffer of a host's.
final class OptimizerHandle: HandleObject, SpecifiedHandle {
    let optimizer: any Optimizer
    let count: Int
    let spec: OwnedCString
    /// One slot, re-pointed at the host's buffers on every step (no allocation per step).
    var slots: [ParameterSlot]
    /// The parameters and the state before the step under way: an update that overflows (a
    /// second moment of huge gradients, a sum of squares) is undone from here.
    private var before: [Float]

    init(_ optimizer: any Optimizer, count: Int, spec: String, placeholder: UnsafeMutablePointer<Float>) {
        self.optimizer = optimizer
        self.count = count
        self.spec = OwnedCString(spec)
        slots = [ParameterSlot(value: placeholder, gradient: placeholder, count: count)]
        before = Array(repeating: 0, count: count + optimizer.state.reduce(0) { $0 + $1.count })
    }

    /// Steps on the host's `params` and `grads`; when a parameter or a state value comes out
    /// non-finite, both are put back as they were and the step is refused.
    func step(_ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>, _ hyper: StepHyperparameters) throws {
        let steps = optimizer.steps
        before.withUnsafeMutableBufferPointer { saved in
            var offset = count
            saved.baseAddress!.update(from: params, count: count)
            for tensor in optimizer.state {
                (saved.baseAddress! + offset).update(from: tensor.data, count: tensor.count)
                offset += tensor.count
            }
        }
        slots[0].value = params
        slots[0].gradient = grads
        optimizer.step(slots, hyper)
        let finite = (0..<count).allSatisfy { params[$0].isFinite }
            && optimizer.state.allSatisfy { tensor in (0..<tensor.count).allSatisfy { tensor.data[$0].isFinite } }
        guard !finite else { return }
        before.withUnsafeBufferPointer { saved in
            var offset = count
            params.update(from: saved.baseAddress!, count: count)
            for tensor in optimizer.state {
                tensor.copy(from: saved.baseAddress! + offset)
                offset += tensor.count
            }
        }
        optimizer.steps = steps
        throw SuperConvError.nonFinite("the update made a parameter or the optimizer's state non-finite (it overflowed); "
                                       + "parameters and state unchanged")
    }

    var stateLength: Int { optimizer.state.reduce(0) { $0 + $1.count } }
}

nonisolated(unsafe) private let placeholder = UnsafeMutablePointer<Float>.allocate(capacity: 1)

let optimizerSchema = SpecSchema(subject: "optimizer", keys: OptimizerConfiguration.keys)

func resolveOptimizer(_ handle: OpaquePointer?) throws -> OptimizerHandle {
    try resolveHandle(handle, as: OptimizerHandle.self, "o", kind: "sc_optimizer")
}

@_cdecl("sc_optimizer_create")
public func sc_optimizer_create(_ spec: UnsafePointer<CChar>?, _ n: Int64,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_optimizer_create", out) {
        guard n >= 1, n <= Int64(Int32.max) else {
            throw SuperConvError.invalidArgument("n = \(n) parameters is out of range; expected 1...\(Int32.max)")
        }
        let parsed = try optimizerSchema.parse(specText(spec))
        let optimizer = try OptimizerConfiguration(parsed).makeOptimizer(counts: [Int(n)])
        return OptimizerHandle(optimizer, count: Int(n), spec: parsed.normalized, placeholder: placeholder)
    }
}

@_cdecl("sc_optimizer_destroy")
public func sc_optimizer_destroy(_ o: OpaquePointer?) {
    releaseHandle(o, as: OptimizerHandle.self)
}

@_cdecl("sc_optimizer_spec")
public func sc_optimizer_spec(_ o: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_optimizer_spec", o) { try resolveOptimizer($0) }
}

@_cdecl("sc_optimizer_step")
public func sc_optimizer_step(_ o: OpaquePointer?, _ params: UnsafeMutablePointer<Float>?, _ grads: UnsafePointer<Float>?,
                              _ n: Int64, _ lr: Float, _ momentum: Float) -> Int32 {
    exported("sc_optimizer_step") {
        let handle = try resolveOptimizer(o)
        let params = try required(params, "params"), grads = try required(grads, "grads")
        guard n == Int64(handle.count) else {
            throw SuperConvError.shape("the optimizer was created for \(handle.count) parameters, n is \(n)")
        }
        guard lr.isFinite, lr >= 0 else { throw SuperConvError.invalidArgument("lr = \(lr); expected a finite lr >= 0") }
        guard momentum.isFinite, momentum >= 0, momentum < 1 else {
            throw SuperConvError.invalidArgument("momentum = \(momentum); expected a value in [0, 1)")
        }
        for i in 0..<handle.count where !grads[i].isFinite {
            throw SuperConvError.nonFinite("grads[\(i)] = \(grads[i]); parameters and state unchanged")
        }
        for i in 0..<handle.count where !params[i].isFinite {
            throw SuperConvError.invalidArgument("params[\(i)] = \(params[i]) is not finite; parameters and state unchanged")
        }
        try handle.step(params, grads, StepHyperparameters(learningRate: lr, momentum: momentum))
    }
}

@_cdecl("sc_optimizer_state_size")
public func sc_optimizer_state_size(_ o: OpaquePointer?, _ len: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_optimizer_state_size") {
        let handle = try resolveOptimizer(o)
        try required(len, "len").pointee = Int64(handle.stateLength)
    }
}

@_cdecl("sc_optimizer_state_get")
public func sc_optimizer_state_get(_ o: OpaquePointer?, _ state: UnsafeMutablePointer<Float>?, _ len: Int64,
                                   _ steps: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_optimizer_state_get") {
        let handle = try resolveOptimizer(o)
        let state = try required(state, "state")
        guard len == Int64(handle.stateLength) else {
            throw SuperConvError.shape("the optimizer's state has \(handle.stateLength) floats, len is \(len)")
        }
        var offset = 0
        for tensor in handle.optimizer.state {
            (state + offset).update(from: tensor.data, count: tensor.count)
            offset += tensor.count
        }
        steps?.pointee = Int64(handle.optimizer.steps)
    }
}

@_cdecl("sc_optimizer_state_set")
public func sc_optimizer_state_set(_ o: OpaquePointer?, _ state: UnsafePointer<Float>?, _ len: Int64,
                                   _ steps: Int64) -> Int32 {
    exported("sc_optimizer_state_set") {
        let handle = try resolveOptimizer(o)
        let state = try required(state, "state")
        guard len == Int64(handle.stateLength) else {
            throw SuperConvError.shape("the optimizer's state has \(handle.stateLength) floats, len is \(len)")
        }
        guard steps >= 0, steps <= Int64(Int32.max) else {
            throw SuperConvError.invalidArgument("steps = \(steps) is out of range")
        }
        for i in 0..<handle.stateLength where !state[i].isFinite {
            throw SuperConvError.invalidArgument("state[\(i)] = \(state[i]) is not finite; state unchanged")
        }
        var offset = 0
        for tensor in handle.optimizer.state {
            tensor.copy(from: state + offset)
            offset += tensor.count
        }
        handle.optimizer.steps = Int(steps)
    }
}
