/// A learning-rate policy: a pure function of the iteration (0-based) giving the learning rate
/// and the momentum of that iteration's update.
public protocol Schedule: Sendable {
    func values(at iteration: Int) -> StepHyperparameters
}

/// Caffe's `fixed` policy: the same learning rate and momentum at every iteration.
public struct FixedSchedule: Schedule {
    public let learningRate: Float
    public let momentum: Float

    public init(learningRate: Float, momentum: Float) {
        self.learningRate = learningRate
        self.momentum = momentum
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        StepHyperparameters(learningRate: learningRate, momentum: momentum)
    }
}
