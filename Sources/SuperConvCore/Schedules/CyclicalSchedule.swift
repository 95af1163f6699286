import Glibc

/// Cyclical learning rates (Smith 2015, "Cyclical Learning Rates for Training Neural Networks",
/// arXiv 1506.01186; Caffe's `triangular` as the paper used it):
///   cycle = floor(1 + it / (2·stepsize)),  x = |it / stepsize − 2·cycle + 1|
///   lr    = base_lr + (max_lr − base_lr) · max(0, 1 − x) · scale
/// with scale 1 (`triangular`), 1/2^(cycle−1) (`triangular2`) or gamma^it (`exp_range`).
///
/// Asymmetric cycles (PyTorch's CyclicLR `step_size_up`/`step_size_down`) generalise x: with
/// up + down iterations per cycle and f the fraction of the current cycle done,
///   rise = f / (up/(up+down)) while f ≤ up/(up+down), else (f − 1) / (up/(up+down) − 1)
/// and lr = base_lr + (max_lr − base_lr) · rise · scale; with up = down this is 1 − x above.
/// Cyclical momentum moves against rise·scale. With `maxIterations` > 0 the values are held
/// from that iteration on (a single CLR cycle is max_iter = 2·stepsize).
public struct CyclicalSchedule: Schedule {
    public enum Mode: String, Sendable {
        case triangular, triangular2, expRange = "exp_range"
    }

    public let mode: Mode
    public let baseLearningRate: Double, maxLearningRate: Double
    public let stepsUp: Int, stepsDown: Int
    public let gamma: Double
    public let momentum: MomentumPolicy
    public let maxIterations: Int

    public init(mode: Mode, baseLearningRate: Double, maxLearningRate: Double, stepsUp: Int, stepsDown: Int,
                gamma: Double, momentum: MomentumPolicy, maxIterations: Int) {
        self.mode = mode
        self.baseLearningRate = baseLearningRate
        self.maxLearningRate = maxLearningRate
        self.stepsUp = stepsUp
        self.stepsDown = stepsDown
        self.gamma = gamma
        self.momentum = momentum
        self.maxIterations = maxIterations
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        let it = Double(maxIterations > 0 ? min(iteration, maxIterations) : iteration)
        let length = Double(stepsUp + stepsDown)
        let cycle = (1 + it / length).rounded(.down)
        let f = 1 + it / length - cycle
        let upShare = Double(stepsUp) / length
        let rise = f <= upShare ? f / upShare : (f - 1) / (upShare - 1)
        let scale: Double
        switch mode {
        case .triangular: scale = 1
        case .triangular2: scale = 1 / pow(2, cycle - 1)
        case .expRange: scale = pow(gamma, it)
        }
        let position = rise * scale
        let lr = baseLearningRate + (maxLearningRate - baseLearningRate) * position
        return StepHyperparameters(learningRate: Float(lr), momentum: Float(momentum.value(position: position)))
    }
}
