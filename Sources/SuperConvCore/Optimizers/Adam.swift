import Glibc

/// Adam (Kingma & Ba 2015; PyTorch's Adam) and AdamW (Loshchilov & Hutter 2019; PyTorch's
/// AdamW). beta1 is the schedule's momentum, so cyclical momentum cycles beta1 as fastai does.
/// At step t (1-based), with g' = scale·g + wd·w for Adam and g' = scale·g for AdamW:
///
///   AdamW only: w ← w − lr·wd·w                       (decoupled decay)
///   m ← beta1·m + (1 − beta1)·g'
///   v ← beta2·v + (1 − beta2)·g'²
///   w ← w − lr · (m / (1 − beta1^t)) / (√(v / (1 − beta2^t)) + eps)
///
/// State per slot: m, then v; the step count t is `steps`.
public final class Adam: OptimizerStorage, Optimizer {
    public init(_ configuration: OptimizerConfiguration, counts: [Int]) throws {
        try super.init(configuration, counts: counts, perSlot: 2)
    }

    public func update(_ s: SlotStep, state index: Int) {
        let beta1 = s.momentum, beta2 = configuration.beta2
        let t = Double(steps)
        parallelFor(state[2 * index].count, minimumPerWorker: parallelGrain,
                    Rule(s: s, m: state[2 * index].data, v: state[2 * index + 1].data, beta1: beta1, beta2: beta2,
                         correction1: Float(1 - pow(Double(beta1), t)), correction2: Float(1 - pow(Double(beta2), t)),
                         epsilon: configuration.epsilon, decoupled: configuration.kind == .adamw))
    }

    private struct Rule: ParallelBody {
        let s: SlotStep
        let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
        let beta1: Float, beta2: Float
        let correction1: Float, correction2: Float
        let epsilon: Float
        let decoupled: Bool

        func callAsFunction(_ worker: Int, _ range: Range<Int>) {
            for i in range {
                var g = s.gradientScale * s.g[i]
                if decoupled { s.w[i] -= s.rate * s.decay * s.w[i] } else { g += s.decay * s.w[i] }
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                s.w[i] -= s.rate * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + epsilon)
            }
        }
    }
}
