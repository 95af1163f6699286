import SuperConvCore
import Glibc

/// Range-test records and their analysis, filled by the host point by point or by a run on a
/// trainer.
final class RangeTestHandle: HandleObject, SpecifiedHandle {
    let analyzer: RangeTestAnalyzer
    /// The sweep's planned length when a trainer ran it (its `iterations`), else the spec's.
    var plannedPoints: Int?
    /// The optimizer of the trainer that ran the sweep, else the spec's.
    var optimizer: OptimizerConfiguration.Kind?
    let spec: OwnedCString
    var points: [RangeTestPoint] = []
    private var cachedReport: RangeTestReport?
    private var cachedEvidence: OwnedCString?

    init(_ analyzer: RangeTestAnalyzer, spec: String) {
        self.analyzer = analyzer
        self.spec = OwnedCString(spec)
    }

    func append(_ point: RangeTestPoint) {
        points.append(point)
        cachedReport = nil
    }

    var report: RangeTestReport {
        if let cachedReport { return cachedReport }
        var analyzer = analyzer
        if let plannedPoints { analyzer.plannedPoints = plannedPoints }
        if let optimizer { analyzer.optimizer = optimizer }
        let report = analyzer.analyze(points)
        cachedReport = report
        cachedEvidence = OwnedCString(Self.describe(report, analyzer: analyzer))
        return report
    }

    var evidence: UnsafePointer<CChar> {
        _ = report
        return cachedEvidence!.cString
    }

    /// The verdict's evidence as a sentence a person would write.
    static func describe(_ r: RangeTestReport, analyzer: RangeTestAnalyzer) -> String {
        guard r.verdict != .unknown else { return "no accuracy was recorded, so there is no plateau to judge" }
        let accuracy = r.usesTestAccuracy ? "held-out accuracy" : "training accuracy"
        let diverged = r.divergedAt.map { "; the loss diverged at point \($0), and the points from there on are left out" } ?? ""
        guard r.peakAccuracy.isFinite else {
            return "too few evaluations of \(accuracy) to judge (at least 6 are needed)" + diverged
        }
        func a(_ x: Double) -> String { formatted(x, "%.2f") }
        func lr(_ x: Double) -> String { formatted(x, "%.3g") }
        let floor = r.peakAccuracy - r.accuracyRise
        guard r.accuracyRise >= 0.1 else {
            return "\(accuracy) stays between \(a(floor)) and \(a(r.peakAccuracy)) (means over \(r.windowPoints) "
                + "evaluations): the network had not begun to learn, so the sweep says nothing yet about large rates "
                + "(sweep longer or on more data)" + diverged
        }
        let kept = formatted(100 * r.retention, "%.0f") + "%"
        var text = "\(accuracy) rises from \(a(floor)) at the start to \(a(r.peakAccuracy)) (means over \(r.windowPoints) "
            + "evaluations, which swing by \(a(r.oscillation)) from one to the next) and stays near that level from lr "
            + "\(lr(r.plateauLow)) to \(lr(r.plateauHigh)); at the largest rates, around lr \(lr(r.heldLearningRate)), "
            + "it is \(a(r.heldAccuracy)), keeping \(kept) of its rise"
        switch r.verdict {
        case .likely:
            text += ": a plateau of large rates \(formatted(r.plateauWidth, "%.1f")) times as wide as its start, "
                + "the paper's sign of super-convergence"
        case .unlikely:
            text += ": accuracy falls back at large rates, which the paper found where super-convergence fails"
        case .inconclusive where analyzer.hasAdamMoments && r.retention >= 1 - analyzer.plateauTolerance
                                 && r.plateauWidth >= analyzer.minimumWidth:
            text += ": a plateau, but with \(analyzer.optimizer!.rawValue) it is no sign of super-convergence (the paper "
                + "found that Adam does not super-converge; on Fashion-MNIST one cycle gained under a point)"
        default:
            let needed = formatted(100 * (1 - analyzer.plateauTolerance), "%.0f") + "%"
            text += ": between a plateau (\(needed) kept over a range \(formatted(analyzer.minimumWidth, "%g")) "
                + "times as wide as its start) and a fall back (less than half kept)"
        }
        return text + diverged
    }
}

/// `x` printed with a printf format for one double.
private func formatted(_ x: Double, _ format: String) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    let length = withVaList([x]) { vsnprintf(&buffer, buffer.count, format, $0) }
    return String(decoding: buffer.prefix(max(0, min(Int(length), buffer.count - 1))).map { UInt8(bitPattern: $0) },
                  as: UTF8.self)
}

func resolveRangeTest(_ handle: OpaquePointer?) throws -> RangeTestHandle {
    try resolveHandle(handle, as: RangeTestHandle.self, "r", kind: "sc_range_test")
}

@_cdecl("sc_range_test_create")
public func sc_range_test_create(_ spec: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createHandle("sc_range_test_create", out) {
        let parsed = try RangeTestAnalyzer.schema.parse(specText(spec))
        return RangeTestHandle(try RangeTestAnalyzer(parsed), spec: parsed.normalized)
    }
}

@_cdecl("sc_range_test_destroy")
public func sc_range_test_destroy(_ r: OpaquePointer?) {
    releaseHandle(r, as: RangeTestHandle.self)
}

@_cdecl("sc_range_test_spec")
public func sc_range_test_spec(_ r: OpaquePointer?) -> UnsafePointer<CChar>? {
    handleSpec("sc_range_test_spec", r) { try resolveRangeTest($0) }
}

@_cdecl("sc_range_test_record")
public func sc_range_test_record(_ r: OpaquePointer?, _ lr: Float, _ trainLoss: Float, _ trainAccuracy: Float,
                                 _ testLoss: Float, _ testAccuracy: Float) -> Int32 {
    exported("sc_range_test_record") {
        let handle = try resolveRangeTest(r)
        guard lr.isFinite, lr >= 0 else { throw SuperConvError.invalidArgument("lr = \(lr); expected a finite value >= 0") }
        if let last = handle.points.last, Double(lr) < last.learningRate {
            throw SuperConvError.invalidArgument("lr = \(lr) is below the previous point's \(last.learningRate); a sweep must not decrease")
        }
        for (name, value) in [("train_acc", trainAccuracy), ("test_acc", testAccuracy)]
        where !value.isNaN && !(0...1).contains(value) {
            throw SuperConvError.invalidArgument("\(name) = \(value); expected a fraction in [0, 1] or NAN")
        }
        handle.append(RangeTestPoint(learningRate: Double(lr), trainLoss: Double(trainLoss),
                                     trainAccuracy: Double(trainAccuracy), testLoss: Double(testLoss),
                                     testAccuracy: Double(testAccuracy)))
    }
}

@_cdecl("sc_range_test_count")
public func sc_range_test_count(_ r: OpaquePointer?, _ count: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported("sc_range_test_count") {
        let handle = try resolveRangeTest(r)
        try required(count, "count").pointee = Int64(handle.points.count)
    }
}

@_cdecl("sc_range_test_point")
public func sc_range_test_point(_ r: OpaquePointer?, _ index: Int64, _ lr: UnsafeMutablePointer<Float>?,
                                _ trainLoss: UnsafeMutablePointer<Float>?, _ trainAccuracy: UnsafeMutablePointer<Float>?,
                                _ testLoss: UnsafeMutablePointer<Float>?, _ testAccuracy: UnsafeMutablePointer<Float>?,
                                _ smoothedLoss: UnsafeMutablePointer<Float>?) -> Int32 {
    exported("sc_range_test_point") {
        let handle = try resolveRangeTest(r)
        guard index >= 0, index < Int64(handle.points.count) else {
            throw SuperConvError.invalidArgument("index \(index) is out of range; there are \(handle.points.count) points")
        }
        let p = handle.points[Int(index)]
        lr?.pointee = Float(p.learningRate)
        trainLoss?.pointee = Float(p.trainLoss)
        trainAccuracy?.pointee = Float(p.trainAccuracy)
        testLoss?.pointee = Float(p.testLoss)
        testAccuracy?.pointee = Float(p.testAccuracy)
        smoothedLoss?.pointee = Float(handle.report.smoothedLoss[Int(index)])
    }
}

@_cdecl("sc_range_test_value")
public func sc_range_test_value(_ r: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: UnsafeMutablePointer<Double>?) -> Int32 {
    exported("sc_range_test_value") {
        let report = try resolveRangeTest(r).report
        let key = String(cString: try required(name, "name"))
        let values: [(String, Double)] = [
            ("paper_max", report.paperMax), ("paper_min", report.paperMin), ("valley", report.valley),
            ("steep", report.steep), ("minimum", report.minimum), ("slide", report.slide),
            ("steepest_gradient", report.steepestGradient), ("peak_lr", report.peakLearningRate),
            ("peak_accuracy", report.peakAccuracy), ("plateau_low", report.plateauLow),
            ("plateau_high", report.plateauHigh), ("plateau_width", report.plateauWidth),
            ("held_lr", report.heldLearningRate), ("held_accuracy", report.heldAccuracy),
            ("retention", report.retention), ("oscillation", report.oscillation), ("accuracy_rise", report.accuracyRise),
            ("diverged_at", report.divergedAt.map(Double.init) ?? -1),
        ]
        guard let found = values.first(where: { $0.0 == key }) else {
            throw SuperConvError.invalidArgument("no value named '\(key)'; names: \(values.map(\.0).joined(separator: ", "))")
        }
        try required(value, "value").pointee = found.1
    }
}

@_cdecl("sc_range_test_verdict")
public func sc_range_test_verdict(_ r: OpaquePointer?, _ verdict: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                  _ evidence: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    exported("sc_range_test_verdict") {
        let handle = try resolveRangeTest(r)
        verdict?.pointee = verdictNames[handle.report.verdict]!.cString
        evidence?.pointee = handle.evidence
    }
}

nonisolated(unsafe) private let verdictNames: [RangeTestReport.Verdict: OwnedCString] = [
    .likely: OwnedCString("likely"), .unlikely: OwnedCString("unlikely"),
    .inconclusive: OwnedCString("inconclusive"), .unknown: OwnedCString("unknown"),
]
