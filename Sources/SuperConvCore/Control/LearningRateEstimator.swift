/// The secant estimate of the optimal learning rate of Smith & Topin 2017, Eq. 8 (after
/// Schaul et al.'s AdaSecant), as the authors computed it: from three snapshots θ_i, θ_{i+1},
/// θ_{i+2} of the parameters taken `inc` iterations apart,
///
///   top = Σ |θ_{i+1} − θ_i|,   bot = Σ |2·θ_{i+1} − θ_i − θ_{i+2}|,   est = lr · top / bot
///   avg ← (1 − alpha)·avg + alpha·est,  avg starting at 0.1
///
/// where lr is the learning rate in use. The `l2` norm replaces each sum of absolute values by
/// the square root of the sum of squares, the variant the paper mentions. On f = h·θ²/2 trained
/// by plain SGD, θ_{i+1} = (1 − lr·h)·θ_i and the estimate is exactly 1/h.
public struct LearningRateEstimator: Sendable {
    public enum Norm: String, Sendable { case l1, l2 }

    public let alpha: Double
    public let norm: Norm
    public internal(set) var smoothed: Double
    public internal(set) var raw: Double = .nan
    /// Snapshots seen, and the last two of them (oldest first). Internal for checkpoints.
    public internal(set) var observations = 0
    var previous: [Float] = []
    var latest: [Float] = []

    public init(alpha: Double, initial: Double, norm: Norm) {
        self.alpha = alpha
        self.smoothed = initial
        self.norm = norm
    }

    /// The length every snapshot must have, fixed by the first one (0 before it).
    public var length: Int { latest.count }

    /// Takes the next snapshot. Returns the raw and smoothed estimates once three snapshots
    /// have been seen, NaN before. When the three are collinear (bot = 0) there is no secant:
    /// raw is NaN and the average keeps its value.
    public mutating func observe(_ theta: UnsafeBufferPointer<Float>, learningRate: Double) throws -> (raw: Double, smoothed: Double) {
        guard observations == 0 || theta.count == latest.count else {
            throw SuperConvError.shape("snapshot has \(theta.count) floats, the first one had \(latest.count)")
        }
        if observations >= 2 {
            var top = 0.0, bot = 0.0
            for i in 0..<theta.count {
                let step = Double(latest[i]) - Double(previous[i])
                let curvature = 2 * Double(latest[i]) - Double(previous[i]) - Double(theta[i])
                switch norm {
                case .l1: top += abs(step); bot += abs(curvature)
                case .l2: top += step * step; bot += curvature * curvature
                }
            }
            if norm == .l2 { (top, bot) = (top.squareRoot(), bot.squareRoot()) }
            raw = bot > 0 ? learningRate * top / bot : .nan
            if raw.isFinite { smoothed = (1 - alpha) * smoothed + alpha * raw }
        }
        // Slide the window; the buffers keep their storage after the first two snapshots.
        if observations == 0 {
            previous = Array(theta)
            latest = Array(theta)
        } else {
            swap(&previous, &latest)
            for i in 0..<theta.count { latest[i] = theta[i] }
        }
        observations += 1
        return observations >= 3 ? (raw, smoothed) : (.nan, .nan)
    }
}

/// The estimator's options, parsed from an estimator spec.
public struct EstimatorConfiguration: Sendable {
    public let alpha: Double
    public let initial: Double
    public let norm: LearningRateEstimator.Norm
    /// Iterations between snapshots when attached to a trainer.
    public let interval: Int
    /// When attached to a trainer: trainable parameters only, or every named tensor (the authors
    /// summed every blob, BN statistics included).
    public let includesStatistics: Bool
    public let spec: Spec

    public static let schema = SpecSchema(subject: "lr_estimator", keys: [
        .init("alpha", "0.1", "weight of each new estimate in the running average"),
        .init("initial", "0.1", "starting value of the running average"),
        .init("norm", "l1", "l1 (sums of absolute values, as the authors) or l2 (square roots of sums of squares)"),
        .init("inc", "1", "on a trainer: iterations between snapshots"),
        .init("params", "trainable", "on a trainer: trainable, or all (BN running statistics too, "
              + "as the authors summed every blob)"),
    ])

    public init(spec text: String) throws {
        let spec = try Self.schema.parse(text)
        alpha = try spec.double("alpha", in: 0...1, excludingLowerBound: true)
        initial = try spec.double("initial", in: 0...1e6)
        norm = LearningRateEstimator.Norm(rawValue: try spec.choice("norm", ["l1", "l2"]))!
        interval = try spec.int("inc", in: 1...Int(Int32.max))
        includesStatistics = try spec.choice("params", ["trainable", "all"]) == "all"
        self.spec = spec
    }

    public func makeEstimator() -> LearningRateEstimator {
        LearningRateEstimator(alpha: alpha, initial: initial, norm: norm)
    }
}
