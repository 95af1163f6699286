/// Smith's one-cycle policy in its linear form (the paper's single CLR cycle plus the
/// annihilation of Smith 2018, "A disciplined approach to neural network hyper-parameters",
/// arXiv 1803.09820, Sec. 4.1):
///   0 ≤ it ≤ s:          lr rises linearly from base_lr to max_lr           (s = stepsize)
///   s ≤ it ≤ 2s:         lr falls linearly back to base_lr
///   2s ≤ it ≤ max_iter:  lr falls linearly from base_lr to annihilation·base_lr
///   it ≥ max_iter:       held at annihilation·base_lr
/// Momentum, when cyclical (e.g. 0.95,0.85), moves against the learning rate during the cycle
/// and rests at the high value during the annihilation.
public struct OneCycleSchedule: Schedule {
    public let baseLearningRate: Double, maxLearningRate: Double
    public let stepsize: Int
    public let maxIterations: Int
    public let annihilation: Double
    public let momentum: MomentumPolicy

    public init(baseLearningRate: Double, maxLearningRate: Double, stepsize: Int, maxIterations: Int,
                annihilation: Double, momentum: MomentumPolicy) {
        self.baseLearningRate = baseLearningRate
        self.maxLearningRate = maxLearningRate
        self.stepsize = stepsize
        self.maxIterations = maxIterations
        self.annihilation = annihilation
        self.momentum = momentum
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        let it = Double(min(iteration, maxIterations)), s = Double(stepsize)
        let lr: Double, m: Double
        if it <= 2 * s {
            let position = 1 - abs(it / s - 1)
            lr = baseLearningRate + (maxLearningRate - baseLearningRate) * position
            m = momentum.value(position: position)
        } else {
            let t = (it - 2 * s) / Double(maxIterations - 2 * stepsize)
            lr = baseLearningRate * (1 - (1 - annihilation) * t)
            m = momentum.resting
        }
        return StepHyperparameters(learningRate: Float(lr), momentum: Float(m))
    }
}
