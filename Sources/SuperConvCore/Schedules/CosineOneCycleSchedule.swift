import Glibc

/// The one-cycle policy of fastai and PyTorch's `OneCycleLR` (Smith & Topin 2017; cosine
/// annealing as in fastai), with PyTorch's parameters and phase boundaries:
///   initial = max_lr / div,  final = initial / final_div
///   two phases:   [0, pct·T − 1]  initial → max_lr,  [.., T − 1] max_lr → final
///   three phases: [0, pct·T − 1]  initial → max_lr,  [.., 2·pct·T − 2] max_lr → initial,
///                 [.., T − 1] initial → final
/// Within a phase from a to b with progress p = (it − start) / (end − start):
///   cos: b + (a − b)/2 · (1 + cos(π·p));   linear: a + (b − a)·p
/// Momentum, when cyclical (max,min = 0.95,0.85 by default), runs max → min → max against the
/// learning rate (and stays at max in the third phase). From T − 1 on the values are held,
/// where PyTorch would raise an error.
public struct CosineOneCycleSchedule: Schedule {
    public let maxLearningRate: Double
    public let totalSteps: Int
    public let percentStart: Double
    public let divFactor: Double, finalDivFactor: Double
    public let threePhase: Bool
    public let cosine: Bool
    public let momentum: MomentumPolicy

    public init(maxLearningRate: Double, totalSteps: Int, percentStart: Double, divFactor: Double,
                finalDivFactor: Double, threePhase: Bool, cosine: Bool, momentum: MomentumPolicy) {
        self.maxLearningRate = maxLearningRate
        self.totalSteps = totalSteps
        self.percentStart = percentStart
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
        self.threePhase = threePhase
        self.cosine = cosine
        self.momentum = momentum
    }

    /// Phase `index`'s last iteration, its learning rates and its momentum positions
    /// (0 = high momentum, 1 = low) at its start and end.
    private func phase(_ index: Int) -> (end: Double, lr: (Double, Double), momentum: (Double, Double)) {
        let initial = maxLearningRate / divFactor, final = initial / finalDivFactor
        let total = Double(totalSteps)
        switch (index, threePhase) {
        case (0, _): return (percentStart * total - 1, (initial, maxLearningRate), (0, 1))
        case (1, true): return (2 * percentStart * total - 2, (maxLearningRate, initial), (1, 0))
        case (1, false): return (total - 1, (maxLearningRate, final), (1, 0))
        default: return (total - 1, (initial, final), (0, 0))
        }
    }

    private func anneal(_ a: Double, _ b: Double, _ p: Double) -> Double {
        cosine ? b + (a - b) / 2 * (1 + cos(Double.pi * p)) : a + (b - a) * p
    }

    public func values(at iteration: Int) -> StepHyperparameters {
        let step = Double(min(iteration, totalSteps - 1))
        let count = threePhase ? 3 : 2
        var start = 0.0
        var index = 0
        while index < count - 1 && step > phase(index).end {
            start = phase(index).end
            index += 1
        }
        let current = phase(index)
        let p = (step - start) / (current.end - start)
        let lr = anneal(current.lr.0, current.lr.1, p)
        let position = anneal(current.momentum.0, current.momentum.1, p)
        return StepHyperparameters(learningRate: Float(lr), momentum: Float(momentum.value(position: position)))
    }
}
