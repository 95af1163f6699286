import Glibc

/// Caffe's decaying policies (`SGDSolver::GetLearningRate`), with a constant momentum:
///   step:      lr = base_lr · gamma^floor(it / stepsize)
///   multistep: lr = base_lr · gamma^(number of stepvalues ≤ it)      (the paper's PC-LR)
///   exp:       lr = base_lr · gamma^it
///   poly:      lr = base_lr · (1 − it / max_iter)^power, held at 0 from max_iter on
public struct CaffeDecaySchedule: Schedule {
    public enum Rule: Sendable, Equatable {
        case step(stepsize: Int)
        case multistep(stepvalues: [Int])
        case exponential
        case polynomial(maxIterations: Int, power: Double)
    }

    public let rule: Rule
    public let baseLearningRate: Double
    public let gamma: Double
    public let momentum: Double

    public init(rule: Rule, baseLearningRate: Double, gamma: Double, momentum: Double) {
        self.rule = rule
        self.baseLearningRate = baseLearningRate
        self.gamma = gamma
        self.momentum = momentum
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        let lr: Double
        switch rule {
        case .step(let stepsize):
            lr = baseLearningRate * pow(gamma, Double(iteration / stepsize))
        case .multistep(let stepvalues):
            var passed = 0
            for value in stepvalues where iteration >= value { passed += 1 }
            lr = baseLearningRate * pow(gamma, Double(passed))
        case .exponential:
            lr = baseLearningRate * pow(gamma, Double(iteration))
        case .polynomial(let maxIterations, let power):
            let t = min(Double(iteration), Double(maxIterations)) / Double(maxIterations)
            lr = baseLearningRate * pow(1 - t, power)
        }
        return StepHyperparameters(learningRate: Float(lr), momentum: Float(momentum))
    }
}
