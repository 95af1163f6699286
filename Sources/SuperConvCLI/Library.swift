import CSuperConv

/// A failed call into libsuperconv: its status and the library's message (sc_last_error).
struct LibraryError: Error, CustomStringConvertible {
    let status: sc_status
    let message: String

    var description: String { message }

    /// The process exit code for this failure (sysexits.h classes; 130 as for SIGINT).
    var exitCode: Int32 {
        switch status {
        case SC_ERR_INVALID_ARGUMENT, SC_ERR_SHAPE: return 64  // EX_USAGE: a value the library refused
        case SC_ERR_FORMAT: return 65                          // EX_DATAERR
        case SC_ERR_IO: return 74                              // EX_IOERR
        case SC_ERR_OUT_OF_MEMORY: return 71                   // EX_OSERR
        case SC_INTERRUPTED: return 130
        case SC_ERR_NONFINITE: return 1                        // training diverged
        default: return 70                                     // EX_SOFTWARE
        }
    }
}

func check(_ status: sc_status) throws {
    guard status == SC_OK else { throw LibraryError(status: status, message: String(cString: sc_last_error())) }
}

/// The handle a `sc_*_create` call writes, or its failure.
func created(_ create: (UnsafeMutablePointer<OpaquePointer?>) -> sc_status) throws -> OpaquePointer {
    var out: OpaquePointer?
    try check(create(&out))
    return out!
}

/// Spec strings from the flags that were given: ("depth", 20), ("variant", nil) -> "depth=20".
func specText(_ pairs: [(String, (any CustomStringConvertible)?)]) -> String {
    pairs.compactMap { key, value in value.map { "\(key)=\($0)" } }.joined(separator: " ")
}

/// Owners of library handles: each destroys its handle when released.
final class Dataset {
    let handle: OpaquePointer
    init(spec: String) throws {
        handle = try created { sc_dataset_open(spec, $0) }
    }
    deinit { sc_dataset_destroy(handle) }

    var info: (count: Int, channels: Int, height: Int, width: Int, classes: Int) {
        var count: Int64 = 0
        var c: Int32 = 0, h: Int32 = 0, w: Int32 = 0, classes: Int32 = 0
        _ = sc_dataset_info(handle, &count, &c, &h, &w, &classes)
        return (Int(count), Int(c), Int(h), Int(w), Int(classes))
    }
}

final class Loader {
    let handle: OpaquePointer
    let dataset: Dataset  // the loader reads it; kept alive with it
    init(_ dataset: Dataset, spec: String) throws {
        handle = try created { sc_loader_create(dataset.handle, spec, $0) }
        self.dataset = dataset
    }
    deinit { sc_loader_destroy(handle) }

    var spec: String { String(cString: sc_loader_spec(handle)) }

    var counts: (samples: Int, batches: Int) {
        var samples: Int64 = 0, batches: Int64 = 0
        _ = sc_loader_info(handle, &samples, &batches)
        return (Int(samples), Int(batches))
    }

    /// The next `count` samples as arrays (crossing epochs), for calls that take host arrays.
    func arrays(count: Int, sampleSize: Int) throws -> (x: [Float], labels: [Int32]) {
        let batch = specValue("batch").flatMap { Int($0) } ?? 128
        var x = [Float](repeating: 0, count: (count + batch) * sampleSize)
        var labels = [Int32](repeating: 0, count: count + batch)
        var filled = 0
        while filled < count {
            var n: Int64 = 0, done: Int32 = 0
            try x.withUnsafeMutableBufferPointer { xs in
                try labels.withUnsafeMutableBufferPointer { ys in
                    try check(sc_loader_next(handle, xs.baseAddress! + filled * sampleSize, ys.baseAddress! + filled,
                                             Int64(batch), &n, &done))
                }
            }
            guard n > 0 else { throw CommandFailure("the loader returned no samples (\(spec))") }
            filled += Int(n)
        }
        return (Array(x.prefix(count * sampleSize)), Array(labels.prefix(count)))
    }

    /// A key's value in the loader's normalised spec.
    func specValue(_ key: String) -> String? {
        spec.split(separator: " ").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }
}

final class Model {
    let handle: OpaquePointer
    init(spec: String) throws {
        handle = try created { sc_model_create(spec, $0) }
    }
    init(checkpoint path: String) throws {
        handle = try created { sc_model_create_from_checkpoint(path, $0) }
    }
    deinit { sc_model_destroy(handle) }

    var spec: String { String(cString: sc_model_spec(handle)) }
}

final class Schedule {
    let handle: OpaquePointer
    init(spec: String) throws {
        handle = try created { sc_schedule_create(spec, $0) }
    }
    deinit { sc_schedule_destroy(handle) }

    var spec: String { String(cString: sc_schedule_spec(handle)) }
}

final class RangeTest {
    let handle: OpaquePointer
    init(spec: String) throws {
        handle = try created { sc_range_test_create(spec, $0) }
    }
    deinit { sc_range_test_destroy(handle) }

    var count: Int {
        var n: Int64 = 0
        _ = sc_range_test_count(handle, &n)
        return Int(n)
    }

    func value(_ name: String) -> Double {
        var v = Double.nan
        _ = sc_range_test_value(handle, name, &v)
        return v
    }

    var verdict: (verdict: String, evidence: String) {
        var verdict: UnsafePointer<CChar>?, evidence: UnsafePointer<CChar>?
        _ = sc_range_test_verdict(handle, &verdict, &evidence)
        return (verdict.map { String(cString: $0) } ?? "", evidence.map { String(cString: $0) } ?? "")
    }
}

final class Trainer {
    let handle: OpaquePointer
    let model: Model  // must outlive the trainer
    private var schedule: Schedule?

    var scheduleHandle: OpaquePointer? { schedule?.handle }

    init(_ model: Model, spec: String) throws {
        handle = try created { sc_trainer_create(model.handle, spec, $0) }
        self.model = model
    }
    deinit { sc_trainer_destroy(handle) }

    var spec: String { String(cString: sc_trainer_spec(handle)) }

    var iteration: Int {
        var i: Int64 = 0
        _ = sc_trainer_iteration(handle, &i)
        return Int(i)
    }

    func setSchedule(_ schedule: Schedule) throws {
        try check(sc_trainer_set_schedule(handle, schedule.handle))
        self.schedule = schedule
    }

    func evaluate(_ loader: Loader) throws -> (loss: Float, accuracy: Double) {
        var loss: Float = 0, accuracy = 0.0
        try check(sc_trainer_evaluate_loader(handle, loader.handle, &loss, &accuracy))
        return (loss, accuracy)
    }

    var lrEstimate: (raw: Float, smoothed: Float) {
        var raw: Float = .nan, smoothed: Float = .nan
        _ = sc_trainer_lr_estimate(handle, &raw, &smoothed)
        return (raw, smoothed)
    }

    /// Runs `body` with `progress` receiving the library's per-step reports.
    func reporting<T>(to progress: ProgressDisplay, _ body: () throws -> T) rethrows -> T {
        let context = Unmanaged.passUnretained(progress).toOpaque()
        _ = sc_trainer_set_progress(handle, { user, iteration, lr, loss, accuracy in
            Unmanaged<ProgressDisplay>.fromOpaque(user!).takeUnretainedValue()
                .step(iteration: Int(iteration), lr: lr, loss: loss, accuracy: accuracy)
        }, context)
        defer { _ = sc_trainer_set_progress(handle, nil, nil) }
        return try body()
    }
}
