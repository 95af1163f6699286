/// A learning-rate policy: a pure function of the iteration (0-based) giving the learning rate
/// and the momentum of that iteration's update.
///
/// Past its last iteration a schedule with an end (one-cycle, ramps, poly, or any schedule with
/// `max_iter`) holds its final value: never an error, never a reflection back up.
public protocol Schedule: Sendable {
    func values(at iteration: Int) -> StepHyperparameters
}

/// Momentum that is either constant or moves against the learning rate between `high` (where
/// the learning rate is lowest) and `low` (where it is highest), as in Smith 2018 and in
/// PyTorch's CyclicLR and OneCycleLR.
public enum MomentumPolicy: Sendable, Equatable {
    case constant(Double)
    case cyclical(high: Double, low: Double)

    /// Momentum when the learning rate stands at `position` of its way from its low to its high
    /// value (0 = low, 1 = high).
    func value(position: Double) -> Double {
        switch self {
        case .constant(let m): return m
        case .cyclical(let high, let low): return high - (high - low) * position
        }
    }

    /// The momentum when the schedule is not cycling (before or after a cycle).
    var resting: Double {
        switch self {
        case .constant(let m): return m
        case .cyclical(let high, _): return high
        }
    }
}

/// Caffe's `fixed` policy: the same learning rate and momentum at every iteration.
public struct FixedSchedule: Schedule {
    public let learningRate: Double
    public let momentum: Double

    public init(learningRate: Double, momentum: Double) {
        self.learningRate = learningRate
        self.momentum = momentum
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        StepHyperparameters(learningRate: Float(learningRate), momentum: Float(momentum))
    }
}
