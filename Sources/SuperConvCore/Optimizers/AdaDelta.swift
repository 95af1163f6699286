/// AdaDelta (Zeiler 2012; Caffe's AdaDeltaSolver as the paper used it, PyTorch's Adadelta).
/// With g' = scale·g + wd·w, rho the decay and eps (Caffe's delta) the conditioning term:
///
///   h_g ← rho·h_g + (1 − rho)·g'²
///   u   ← √((h_u + eps) / (h_g + eps)) · g'
///   h_u ← rho·h_u + (1 − rho)·u²
///   w   ← w − lr·u
///
/// State per slot: h_g, then h_u. Momentum is not used.
public final class AdaDelta: OptimizerStorage, Optimizer {
    public init(_ configuration: OptimizerConfiguration, counts: [Int]) throws {
        try super.init(configuration, counts: counts, perSlot: 2)
    }

    public func update(_ s: SlotStep, state index: Int) {
        parallelFor(state[2 * index].count, minimumPerWorker: parallelGrain,
                    Rule(s: s, hg: state[2 * index].data, hu: state[2 * index + 1].data,
                         rho: configuration.rho, epsilon: configuration.epsilon))
    }

    private struct Rule: ParallelBody {
        let s: SlotStep
        let hg: UnsafeMutablePointer<Float>, hu: UnsafeMutablePointer<Float>
        let rho: Float, epsilon: Float

        func callAsFunction(_ worker: Int, _ range: Range<Int>) {
            for i in range {
                let g = s.gradientScale * s.g[i] + s.decay * s.w[i]
                hg[i] = rho * hg[i] + (1 - rho) * g * g
                let u = ((hu[i] + epsilon) / (hg[i] + epsilon)).squareRoot() * g
                hu[i] = rho * hu[i] + (1 - rho) * u * u
                s.w[i] -= s.rate * u
            }
        }
    }
}
