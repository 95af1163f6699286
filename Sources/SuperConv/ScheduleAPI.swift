import SuperConvCore

final class ScheduleHandle: HandleObject, SpecifiedHandle {
    let configuration: ScheduleConfiguration
    let spec: OwnedCString

    init(_ configuration: ScheduleConfiguration) {
        self.configuration = configuration
        spec = OwnedCString(configuration.spec.normalized)
    }
}

func resolveSchedule(_ handle: OpaquePointer?) throws -> ScheduleHandle {
    try resolveHandle(handle, as: ScheduleHandle.self, "s", kind: "sc_schedule")
}

func checkIteration(_ iteration: Int64, _ name: String) throws -> Int {
    guard iteration >= 0, iteration <= Int64(Int32.max) else {
        throw SuperConvError.invalidArgument("\(name) = \(iteration) is out of range; expected 0...\(Int32.max)")
    }
    return Int(iteration)
}

@_cdecl("sc_schedule_create")
public func sc_schedule_create(_ spec: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_schedule_create", out) {
        return ScheduleHandle(try ScheduleConfiguration(spec: specText(spec)))
    }
}

@_cdecl("sc_schedule_destroy")
public func sc_schedule_destroy(_ s: OpaquePointer?) {
    releaseHandle(s, as: ScheduleHandle.self)
}

@_cdecl("sc_schedule_spec")
public func sc_schedule_spec(_ s: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_schedule_spec", s) { try resolveSchedule($0) }
}

@_cdecl("sc_schedule_at")
public func sc_schedule_at(_ s: OpaquePointer?, _ iteration: Int64, _ lr: UnsafeMutablePointer<Float>?,
                           _ momentum: UnsafeMutablePointer<Float>?) -> Int32 {
    exported("sc_schedule_at") {
        let schedule = try resolveSchedule(s).configuration.schedule
        let values = schedule.values(at: try checkIteration(iteration, "iteration"))
        lr?.pointee = values.learningRate
        momentum?.pointee = values.momentum
    }
}

@_cdecl("sc_schedule_table")
public func sc_schedule_table(_ s: OpaquePointer?, _ first: Int64, _ count: Int64, _ lr: UnsafeMutablePointer<Float>?,
                              _ momentum: UnsafeMutablePointer<Float>?, _ len: Int64) -> Int32 {
    exported("sc_schedule_table") {
        let schedule = try resolveSchedule(s).configuration.schedule
        let start = try checkIteration(first, "first")
        guard count >= 0, count <= Int64(Int32.max) + 1 - Int64(start) else {
            throw SuperConvError.invalidArgument("count = \(count) is out of range")
        }
        guard len == count else { throw SuperConvError.shape("the table has \(count) rows, len is \(len)") }
        for row in 0..<Int(count) {
            let values = schedule.values(at: start + row)
            lr?[row] = values.learningRate
            momentum?[row] = values.momentum
        }
    }
}
