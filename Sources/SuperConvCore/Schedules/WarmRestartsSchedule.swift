import Glibc

/// Cosine annealing with warm restarts (Loshchilov & Hutter 2017, SGDR; PyTorch's
/// `CosineAnnealingWarmRestarts` stepped once per iteration): the i-th period lasts
/// T_i = T_0·T_mult^i iterations, and with T_cur iterations into it
///   lr = eta_min + (base_lr − eta_min) · (1 + cos(π·T_cur / T_i)) / 2
/// Momentum is constant. The schedule restarts forever; it has no end.
public struct WarmRestartsSchedule: Schedule {
    public let baseLearningRate: Double
    public let firstPeriod: Int
    public let periodMultiplier: Int
    public let minimumLearningRate: Double
    public let momentum: Double

    public init(baseLearningRate: Double, firstPeriod: Int, periodMultiplier: Int, minimumLearningRate: Double,
                momentum: Double) {
        self.baseLearningRate = baseLearningRate
        self.firstPeriod = firstPeriod
        self.periodMultiplier = periodMultiplier
        self.minimumLearningRate = minimumLearningRate
        self.momentum = momentum
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        var current = iteration, period = firstPeriod
        if periodMultiplier == 1 {
            current = iteration % period
        } else {
            while current >= period {
                current -= period
                period *= periodMultiplier
            }
        }
        let lr = minimumLearningRate
            + (baseLearningRate - minimumLearningRate) * (1 + cos(Double.pi * Double(current) / Double(period))) / 2
        return StepHyperparameters(learningRate: Float(lr), momentum: Float(momentum))
    }
}
