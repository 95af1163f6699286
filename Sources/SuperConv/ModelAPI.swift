import Glibc
import SuperConvCore

final class ModelHandle: HandleObject, SpecifiedHandle {
    let model: ResNet
    let spec: OwnedCString
    let names: [OwnedCString]
    /// Set by sc_model_destroy; trainers that still hold the model then refuse to run.
    var destroyed = false
    /// The last profile report handed out.
    var profileReport: OwnedCString?

    init(_ model: ResNet) {
        self.model = model
        spec = OwnedCString(model.configuration.spec.normalized)
        names = model.parameters.map { OwnedCString($0.name) }
    }
}

func resolveModel(_ handle: OpaquePointer?, _ argument: String = "m") throws -> ModelHandle {
    try resolveHandle(handle, as: ModelHandle.self, argument, kind: "sc_model")
}

extension ModelHandle {
    func parameter(_ name: UnsafePointer<CChar>?) throws -> Parameter {
        let key = String(cString: try required(name, "name"))
        guard let p = model.parameter(named: key) else {
            let known = model.parameters.prefix(4).map(\.name).joined(separator: ", ")
            throw SuperConvError.invalidArgument(
                "no parameter named '\(key)' (names are PyTorch state_dict keys such as \(known), ...; sc_model_param_info lists them)")
        }
        return p
    }
}

func checkLength(_ len: Int64, _ expected: Int, _ what: String) throws {
    guard len == Int64(expected) else {
        throw SuperConvError.shape("\(what) has \(expected) floats, len is \(len)")
    }
}

@_cdecl("sc_model_create")
public func sc_model_create(_ spec: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_model_create", out) {
        let model = try ResNet(ModelConfiguration(spec: specText(spec)))
        return ModelHandle(model)
    }
}

@_cdecl("sc_model_destroy")
public func sc_model_destroy(_ m: OpaquePointer?) {
    releaseHandle(m, as: ModelHandle.self) { $0.destroyed = true }
}

@_cdecl("sc_model_spec")
public func sc_model_spec(_ m: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_model_spec", m) { try resolveModel($0) }
}

@_cdecl("sc_model_forward")
public func sc_model_forward(_ m: OpaquePointer?, _ x: UnsafePointer<Float>?, _ n: Int64,
                             _ logits: UnsafeMutablePointer<Float>?, _ logitsLen: Int64) -> Int32 {
    exported("sc_model_forward") {
        let handle = try resolveModel(m)
        let x = try required(x, "x"), logits = try required(logits, "logits")
        let model = handle.model
        guard n >= 1, n <= Int64(Int32.max) / Int64(max(model.sampleSize, model.classes)) else {
            throw SuperConvError.invalidArgument("n = \(n) samples is out of range")
        }
        try checkLength(logitsLen, Int(n) * model.classes, "logits for \(n) samples of \(model.classes) classes")
        try model.predict(x, count: Int(n), into: logits)
    }
}

@_cdecl("sc_model_param_count")
public func sc_model_param_count(_ m: OpaquePointer?, _ count: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_model_param_count") {
        let handle = try resolveModel(m)
        try required(count, "count").pointee = Int64(handle.model.parameters.count)
    }
}

@_cdecl("sc_model_param_info")
public func sc_model_param_info(_ m: OpaquePointer?, _ index: Int64, _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                _ rank: UnsafeMutablePointer<Int32>?, _ shape: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_model_param_info") {
        let handle = try resolveModel(m)
        let parameters = handle.model.parameters
        guard index >= 0, index < Int64(parameters.count) else {
            throw SuperConvError.invalidArgument("index \(index) is out of range; the model has \(parameters.count) named tensors")
        }
        let p = parameters[Int(index)]
        name?.pointee = handle.names[Int(index)].cString
        rank?.pointee = Int32(p.value.shape.rank)
        if let shape {
            for axis in 0..<4 { shape[axis] = Int64(axis < p.value.shape.rank ? p.value.shape[axis] : 1) }
        }
    }
}

@_cdecl("sc_model_param_get")
public func sc_model_param_get(_ m: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                               _ out: UnsafeMutablePointer<Float>?, _ len: Int64) -> Int32 {
    exported("sc_model_param_get") {
        let p = try resolveModel(m).parameter(name)
        let out = try required(out, "out")
        try checkLength(len, p.value.count, "'\(p.name)'")
        out.update(from: p.value.data, count: p.value.count)
    }
}

@_cdecl("sc_model_param_set")
public func sc_model_param_set(_ m: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                               _ values: UnsafePointer<Float>?, _ len: Int64) -> Int32 {
    exported("sc_model_param_set") {
        let p = try resolveModel(m).parameter(name)
        let values = try required(values, "in")
        try checkLength(len, p.value.count, "'\(p.name)'")
        for i in 0..<p.value.count where !values[i].isFinite {
            throw SuperConvError.invalidArgument("in[\(i)] = \(values[i]) is not finite; '\(p.name)' unchanged")
        }
        if p.name.hasSuffix(".running_var") {
            for i in 0..<p.value.count where values[i] < 0 {
                throw SuperConvError.invalidArgument("in[\(i)] = \(values[i]) is a negative variance; '\(p.name)' unchanged")
            }
        }
        p.value.copy(from: values)
    }
}

@_cdecl("sc_model_set_profiling")
public func sc_model_set_profiling(_ m: OpaquePointer?, _ enabled: Int32) -> Int32 {
    exported("sc_model_set_profiling") {
        let profiler = try resolveModel(m).model.profiler
        profiler.reset()
        profiler.isEnabled = enabled != 0
    }
}

@_cdecl("sc_model_profile")
public func sc_model_profile(_ m: OpaquePointer?, _ report: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    exported("sc_model_profile") {
        let handle = try resolveModel(m)
        let out = try required(report, "report")
        let text = OwnedCString(handle.model.profiler.report)
        handle.profileReport = text
        out.pointee = text.cString
    }
}

@_cdecl("sc_model_create_from_checkpoint")
public func sc_model_create_from_checkpoint(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_model_create_from_checkpoint", out) {
        ModelHandle(try Checkpoint.loadModel(from: try pathArgument(path)))
    }
}
