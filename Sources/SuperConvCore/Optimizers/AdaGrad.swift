import Glibc

/// AdaGrad (Duchi, Hazan & Singer 2011; Caffe's AdaGradSolver, PyTorch's Adagrad with
/// lr_decay 0). With g' = scale·g + wd·w:
///
///   h ← h + g'²,   w ← w − lr·g' / (√h + eps)
///
/// Momentum is not used (the paper's AdaGrad runs left it unset).
public final class AdaGrad: OptimizerStorage, Optimizer {
    public init(_ configuration: OptimizerConfiguration, counts: [Int]) throws {
        try super.init(configuration, counts: counts, perSlot: 1)
    }

    public func update(_ s: SlotStep, state index: Int) {
        parallelFor(state[index].count, minimumPerWorker: parallelGrain,
                    Rule(s: s, h: state[index].data, epsilon: configuration.epsilon))
    }

    private struct Rule: ParallelBody {
        let s: SlotStep
        let h: UnsafeMutablePointer<Float>
        let epsilon: Float

        func callAsFunction(_ worker: Int, _ range: Range<Int>) {
            for i in range {
                let g = s.gradientScale * s.g[i] + s.decay * s.w[i]
                h[i] += g * g
                s.w[i] -= s.rate * g / (h[i].squareRoot() + epsilon)
            }
        }
    }
}
