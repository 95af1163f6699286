/// Linear warm-up in front of any schedule: for the first `iterations` iterations the wrapped
/// schedule's learning rate is scaled by (it + 1) / iterations (PyTorch's LinearLR from
/// 1/iterations to 1); afterwards it is the wrapped schedule unchanged. Momentum is untouched.
public struct WarmupSchedule: Schedule {
    public let iterations: Int
    public let schedule: any Schedule

    public init(iterations: Int, schedule: any Schedule) {
        self.iterations = iterations
        self.schedule = schedule
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        var values = schedule.values(at: iteration)
        if iteration < iterations {
            values.learningRate *= Float(iteration + 1) / Float(iterations)
        }
        return values
    }
}
