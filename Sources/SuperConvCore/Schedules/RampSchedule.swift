import Glibc

/// The learning-rate sweeps of a range test, from base_lr at iteration 0 to max_lr at max_iter,
/// held there afterwards:
///   linear (the paper's: Caffe `triangular` with stepsize = max_iter):
///       lr = base_lr + (max_lr − base_lr) · it / max_iter
///   exponential (fastai's and torch-lr-finder's):
///       lr = base_lr · (max_lr / base_lr)^(it / max_iter)
/// Momentum is constant.
public struct RampSchedule: Schedule {
    public let exponential: Bool
    public let baseLearningRate: Double, maxLearningRate: Double
    public let maxIterations: Int
    public let momentum: Double

    public init(exponential: Bool, baseLearningRate: Double, maxLearningRate: Double, maxIterations: Int,
                momentum: Double) {
        self.exponential = exponential
        self.baseLearningRate = baseLearningRate
        self.maxLearningRate = maxLearningRate
        self.maxIterations = maxIterations
        self.momentum = momentum
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        let t = Double(min(iteration, maxIterations)) / Double(maxIterations)
        let lr = exponential
            ? baseLearningRate * pow(maxLearningRate / baseLearningRate, t)
            : baseLearningRate + (maxLearningRate - baseLearningRate) * t
        return StepHyperparameters(learningRate: Float(lr), momentum: Float(momentum))
    }
}
