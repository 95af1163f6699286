import Glibc

/// One point of a learning-rate range test. Values a host does not have are NaN.
public struct RangeTestPoint: Sendable, Equatable {
    public var learningRate: Double
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double
    public var testAccuracy: Double

    public init(learningRate: Double, trainLoss: Double, trainAccuracy: Double = .nan,
                testLoss: Double = .nan, testAccuracy: Double = .nan) {
        self.learningRate = learningRate
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
    }
}

/// What a range test says, with its evidence. Learning rates are NaN where a rule had too few
/// points or lacked the values it needs.
public struct RangeTestReport: Sendable {
    public enum Verdict: String, Sendable {
        /// Accuracy rises and holds its level up to the largest rates (Fig. 2b).
        case likely
        /// Accuracy falls back at the largest rates: a decay after a peak, a collapse, or swings
        /// down to low values (Figs. 2a, 11).
        case unlikely
        case inconclusive
        /// No accuracy was recorded.
        case unknown
    }

    /// fastai's debiased EMA of the training loss and torch-lr-finder's EMA, per point.
    public var smoothedLoss: [Double] = []
    public var smoothedLossEMA: [Double] = []
    /// First point whose smoothed loss exceeded k × the best so far, or was NaN (nil: none).
    public var divergedAt: Int?

    /// The paper's rule: max_lr where accuracy stops holding its peak level (the plateau's end);
    /// min_lr = max_lr / divisor.
    public var paperMax = Double.nan, paperMin = Double.nan
    /// fastai's suggestions (`valley`, `steep`, `minimum`, `slide`) and torch-lr-finder's
    /// steepest gradient.
    public var valley = Double.nan, steep = Double.nan, minimum = Double.nan, slide = Double.nan
    public var steepestGradient = Double.nan

    public var verdict = Verdict.unknown
    /// Evidence of the verdict, all on the accuracy used (held-out if recorded, else training)
    /// averaged over windows of consecutive points: whether it is held-out accuracy; the best
    /// window's mean and the learning rate at its centre (the peak); the rise from the first
    /// evaluation to the peak; the first and last learning rates whose
    /// window is within the tolerance of the peak (the plateau) and their ratio (its width);
    /// the mean of the last window (the held level, at the largest rates reached) and the part
    /// of the rise it keeps (retention); the mean absolute change between consecutive points.
    public var usesTestAccuracy = false
    public var windowPoints = 0
    public var peakLearningRate = Double.nan, peakAccuracy = Double.nan
    public var accuracyRise = Double.nan
    public var plateauLow = Double.nan, plateauHigh = Double.nan
    public var plateauWidth = Double.nan
    public var heldLearningRate = Double.nan, heldAccuracy = Double.nan
    public var retention = Double.nan
    public var oscillation = Double.nan
}

/// fastai's smoothing and stopping rule, one loss at a time:
///   avg = β·avg + (1 − β)·loss,  smoothed = avg / (1 − β^(i+1)),
///   diverged once smoothed is NaN or exceeds k × the best smoothed loss so far.
public struct LossSmoother: Sendable {
    public let beta: Double, divergenceFactor: Double
    private var average = 0.0, best = Double.infinity, count = 0

    public init(beta: Double, divergenceFactor: Double) {
        self.beta = beta
        self.divergenceFactor = divergenceFactor
    }

    public mutating func add(_ loss: Double) -> (smoothed: Double, diverged: Bool) {
        count += 1
        average = beta * average + (1 - beta) * loss
        let smoothed = average / (1 - pow(beta, Double(count)))
        let diverged = !smoothed.isFinite || smoothed > divergenceFactor * best
        best = min(best, smoothed)
        return (smoothed, diverged)
    }
}

/// Analyses range-test records: smoothing, divergence, suggested learning rates and the
/// super-convergence verdict.
///
/// The verdict reads held-out accuracy as the paper reads its Figs. 2 and 11: what matters is
/// whether the level accuracy reaches is still there at the largest rates, not how smooth the
/// curve is. Evaluations during a fast sweep swing by ±0.1 from one point to the next, so the
/// verdict works on means over windows of w consecutive points (w = max(3, n/window_div)):
///   P = the best window mean (the peak), F = the first evaluation (before the sweep's training),
///   E = the mean of the last window (the largest rates reached before divergence),
///   retention R = (E − F) / (P − F), plateau = the windows with a mean ≥ P − tol·(P − F),
///   width = its last learning rate / its first.
///   likely        R ≥ 1 − tol and width ≥ min_width: the level is reached and held to the end
///                 (inconclusive instead with Adam's moments, see `optimizer`)
///   unlikely      R < 1/2: at the largest rates accuracy has lost half of what it had gained
///   inconclusive  otherwise, with fewer than 2·w points, or when P − F < 0.1 (the network had not
///                 begun to learn: a flat line at chance level is no plateau); unknown without
///                 accuracy.
public struct RangeTestAnalyzer: Sendable {
    public var divergenceFactor: Double = 4
    public var beta: Double = 0.98
    public var emaFactor: Double = 0.05
    public var emaDivergenceFactor: Double = 5
    public var minDivisor: Double = 3
    public var plateauTolerance: Double = 0.2
    public var windowDivisor = 6
    public var minimumWidth: Double = 2
    /// The sweep's optimizer, when known. With Adam's moments (adam, adamw) a plateau is no
    /// evidence: the paper found that Adam does not super-converge, and here its range tests hold
    /// a plateau to 10 times its usual rate while one cycle gains under a point over its
    /// piecewise-constant schedule (REPRODUCTION.md, experiment 8).
    public var optimizer: OptimizerConfiguration.Kind?
    /// Points the sweep was planned to record, 0 where unknown: fastai skips the first tenth of
    /// the planned sweep (`num_it // 10`), which differs from a tenth of the points recorded when
    /// the sweep diverges before its end.
    public var plannedPoints = 0

    public init() {}

    public static let schema = SpecSchema(subject: "range_test", keys: [
        .init("diverge", "4", "the loss has diverged once its smoothed value exceeds this times the best so far, "
              + "or is NaN (fastai's rule)"),
        .init("beta", "0.98", "fastai's debiased exponential smoothing of the loss, in [0, 1)"),
        .init("smooth_f", "0.05", "torch-lr-finder's smoothing factor (its own divergence factor is 5)"),
        .init("min_div", "3", "the paper's rule: min_lr = max_lr / min_div (3 or 4)"),
        .init("plateau_tol", "0.2", "the plateau: windows whose mean accuracy is within this fraction of the rise "
              + "(peak minus the first evaluation) of the peak"),
        .init("window_div", "6", "accuracy is averaged over windows of max(3, points / window_div) consecutive evaluations"),
        .init("min_width", "2", "a likely verdict needs a plateau whose last learning rate is at least this times its first"),
        .init("optimizer", "unknown", "the sweep's optimizer (sgd, nesterov, adagrad, adadelta, adam, adamw; a trainer's "
              + "range test sets it): with adam and adamw a plateau is not taken as a sign of super-convergence"),
        .init("planned", "0", "points the sweep was planned to record (fastai's suggestions skip the first tenth "
              + "of them); 0: the points recorded before divergence"),
    ])

    public init(_ spec: Spec) throws {
        divergenceFactor = try spec.double("diverge", in: 1...1e6, excludingLowerBound: true)
        beta = try spec.double("beta", in: 0...1)
        guard beta < 1 else { throw spec.invalid("beta", "expected a number in [0, 1)") }
        emaFactor = try spec.double("smooth_f", in: 0...1, excludingLowerBound: true)
        minDivisor = try spec.double("min_div", in: 1...1e6)
        plateauTolerance = try spec.double("plateau_tol", in: 0...0.5)
        windowDivisor = try spec.int("window_div", in: 1...1_000_000)
        minimumWidth = try spec.double("min_width", in: 1...1e6)
        let kind = try spec.choice("optimizer", ["unknown"] + OptimizerConfiguration.Kind.allCases.map(\.rawValue))
        optimizer = OptimizerConfiguration.Kind(rawValue: kind)
        plannedPoints = try spec.int("planned", in: 0...Int(Int32.max))
    }

    public func analyze(_ points: [RangeTestPoint]) -> RangeTestReport {
        var report = RangeTestReport()
        let n = points.count
        var smoother = LossSmoother(beta: beta, divergenceFactor: divergenceFactor)
        for (i, p) in points.enumerated() {
            let (smoothed, diverged) = smoother.add(p.trainLoss)
            report.smoothedLoss.append(smoothed)
            if diverged && report.divergedAt == nil { report.divergedAt = i }
        }
        // torch-lr-finder: s_i = f·loss_i + (1 − f)·s_{i−1}; stops at 5 × best.
        var emaEnd = n
        var best = Double.infinity
        for (i, p) in points.enumerated() {
            let s = i == 0 ? p.trainLoss : emaFactor * p.trainLoss + (1 - emaFactor) * report.smoothedLossEMA[i - 1]
            report.smoothedLossEMA.append(s)
            if emaEnd == n {
                if !s.isFinite || s > emaDivergenceFactor * best { emaEnd = i }
                best = min(best, s)
            }
        }

        let valid = report.divergedAt ?? n
        // fastai's suggestion window: skip the first tenth of the planned sweep and the last five
        // points before divergence.
        let lower = (plannedPoints > 0 ? plannedPoints : valid) / 10, upper = valid - 5
        if upper - lower >= 3 {
            let lrs = points[lower..<upper].map(\.learningRate)
            let losses = Array(report.smoothedLoss[lower..<upper])
            report.valley = Self.valley(lrs, losses)
            report.steep = Self.steep(lrs, losses)
            report.minimum = lrs[losses.indices.min { losses[$0] < losses[$1] }!] / 10
            report.slide = Self.slide(lrs, losses)
        }
        // torch-lr-finder: skip_start 10, skip_end 5, on its own smoothing and stopping point.
        if emaEnd - 15 >= 2 {
            let range = 10..<(emaEnd - 5)
            let gradient = Self.gradient(Array(report.smoothedLossEMA[range]))
            report.steepestGradient = points[range.lowerBound + gradient.indices.min { gradient[$0] < gradient[$1] }!].learningRate
        }
        accuracyEvidence(points[..<valid], into: &report)
        return report
    }

    private func accuracyEvidence(_ points: ArraySlice<RangeTestPoint>, into report: inout RangeTestReport) {
        let useTest = points.contains { $0.testAccuracy.isFinite }
        let measured = points.filter { (useTest ? $0.testAccuracy : $0.trainAccuracy).isFinite }
        guard !measured.isEmpty else { return }
        report.usesTestAccuracy = useTest
        let accuracy = measured.map { useTest ? $0.testAccuracy : $0.trainAccuracy }
        let lrs = measured.map(\.learningRate)
        var change = 0.0
        for i in accuracy.indices.dropFirst() { change += abs(accuracy[i] - accuracy[i - 1]) }
        report.oscillation = accuracy.count > 1 ? change / Double(accuracy.count - 1) : 0
        let width = max(3, accuracy.count / windowDivisor)
        report.windowPoints = width
        guard accuracy.count >= 2 * width else {
            report.verdict = .inconclusive
            return
        }
        // Window k covers points k ..< k + width; its learning rate is its centre's.
        let means = (0...(accuracy.count - width)).map { k in accuracy[k..<(k + width)].reduce(0, +) / Double(width) }
        let centre = { (k: Int) in lrs[k + width / 2] }
        let peak = means.indices.max { means[$0] < means[$1] }!
        // Measured from the sweep's first evaluation: the network before the sweep trained it.
        let floor = min(accuracy[0], means[peak])
        let rise = means[peak] - floor
        let threshold = means[peak] - plateauTolerance * rise
        let plateau = means.indices.filter { means[$0] >= threshold }
        report.peakLearningRate = centre(peak)
        report.peakAccuracy = means[peak]
        report.accuracyRise = rise
        report.plateauLow = centre(plateau.first!)
        report.plateauHigh = centre(plateau.last!)
        report.plateauWidth = report.plateauLow > 0 ? report.plateauHigh / report.plateauLow : .infinity
        report.heldLearningRate = centre(means.count - 1)
        report.heldAccuracy = means[means.count - 1]
        report.retention = rise > 0 ? (report.heldAccuracy - floor) / rise : .nan
        report.paperMax = report.plateauHigh
        report.paperMin = report.plateauHigh / minDivisor
        if rise < 0.1 {
            report.verdict = .inconclusive
        } else if report.retention >= 1 - plateauTolerance && report.plateauWidth >= minimumWidth {
            report.verdict = hasAdamMoments ? .inconclusive : .likely
        } else if report.retention < 0.5 {
            report.verdict = .unlikely
        } else {
            report.verdict = .inconclusive
        }
    }

    public var hasAdamMoments: Bool { optimizer == .adam || optimizer == .adamw }

    /// numpy.gradient: central differences inside, one-sided at the ends.
    static func gradient(_ f: [Double]) -> [Double] {
        guard f.count > 1 else { return [0] }
        return f.indices.map { i in
            i == 0 ? f[1] - f[0] : i == f.count - 1 ? f[i] - f[i - 1] : (f[i + 1] - f[i - 1]) / 2
        }
    }

    /// fastai `valley`: the longest decreasing run of losses (as a subsequence); the suggestion
    /// sits halfway into its second third.
    static func valley(_ lrs: [Double], _ losses: [Double]) -> Double {
        let n = losses.count
        var lds = Array(repeating: 1, count: n)
        var maxStart = 0, maxEnd = 0
        for i in 1..<n {
            for j in 0..<i {
                if losses[i] < losses[j] && lds[i] < lds[j] + 1 { lds[i] = lds[j] + 1 }
                if lds[maxEnd] < lds[i] {
                    maxEnd = i
                    maxStart = maxEnd - lds[maxEnd]
                }
            }
        }
        let sections = Double(maxEnd - maxStart) / 3
        return lrs[max(0, maxStart + Int(sections) + Int(sections / 2))]
    }

    /// fastai `steep`: the learning rate where the loss falls fastest against log(lr).
    static func steep(_ lrs: [Double], _ losses: [Double]) -> Double {
        guard lrs.allSatisfy({ $0 > 0 }) else { return .nan }
        var best = 0, bestSlope = Double.infinity
        for i in 0..<(losses.count - 1) {
            let slope = (losses[i + 1] - losses[i]) / (log(lrs[i + 1]) - log(lrs[i]))
            if slope < bestSlope { bestSlope = slope; best = i }
        }
        return lrs[best]
    }

    /// fastai `slide` (lr_diff 15, threshold 0.005): walks down from the largest learning rate
    /// while the loss gradient differs from the one 15 points earlier by more than the threshold.
    static func slide(_ lrs: [Double], _ losses: [Double], lrDiff: Int = 15, threshold: Double = 0.005) -> Double {
        let n = losses.count
        guard n > lrDiff else { return .nan }
        let g = gradient(losses)
        var right = n - 1, left = right - lrDiff
        var suggestion = lrs[left]
        while left >= 0 && abs(g[right] - g[left]) > threshold {
            suggestion = lrs[left]
            right -= 1
            left -= 1
        }
        return suggestion
    }
}
