import SuperConvCore

/// Range-test records and their analysis, filled by the host point by point or by a run on a
/// trainer.
final class RangeTestHandle: HandleObject, SpecifiedHandle {
    let analyzer: RangeTestAnalyzer
    /// The sweep's planned length when a trainer ran it (its `iterations`), else the spec's.
    var plannedPoints: Int?
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
        let report = analyzer.analyze(points)
        cachedReport = report
        cachedEvidence = OwnedCString(Self.describe(report, tolerance: analyzer.plateauTolerance))
        return report
    }

    var evidence: UnsafePointer<CChar> {
        _ = report
        return cachedEvidence!.cString
    }

    static func describe(_ r: RangeTestReport, tolerance: Double) -> String {
        guard r.verdict != .unknown else { return "no accuracy was recorded, so the plateau cannot be measured" }
        func f(_ x: Double) -> String {
            let scaled = (x * 1000).rounded() / 1000
            return "\(scaled)"
        }
        let rise = r.accuracyRise.isFinite && r.verdict == .inconclusive && r.accuracyRise < 2 * tolerance
            ? "accuracy rose by only \(f(r.accuracyRise)) during the sweep, so the network had not begun to learn "
              + "(sweep longer or on more data); " : ""
        return rise + "accuracy peaks at \(f(r.peakAccuracy)) at lr \(f(r.peakLearningRate)) and stays within the tolerance "
            + "from lr \(f(r.plateauLow)) to \(f(r.plateauHigh)) (width \(f(r.plateauWidth)) times its start); "
            + "mean change between points after the peak \(f(r.oscillation))"
            + (r.divergedAt.map { "; the loss diverged at point \($0)" } ?? "")
    }
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
            ("oscillation", report.oscillation), ("accuracy_rise", report.accuracyRise), ("diverged_at", report.divergedAt.map(Double.init) ?? -1),
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
