/// Stochastic gradient descent with momentum, plain or Nesterov, in Caffe's or PyTorch's form.
/// With g' = scale·g + wd·w (L2 decay folded into the gradient, as both frameworks do):
///
///   Caffe (SGDSolver, NesterovSolver; the paper's solvers):
///     sgd:      v ← m·v + lr·g',                       w ← w − v
///     nesterov: v_new ← m·v + lr·g',                   w ← w − ((1 + m)·v_new − m·v)
///   PyTorch (torch.optim.SGD, dampening 0):
///     sgd:      v ← m·v + g',                          w ← w − lr·v
///     nesterov: v ← m·v + g',                          w ← w − lr·(g' + m·v)
///
/// The forms differ when lr changes: Caffe's velocity carries past learning rates, PyTorch's
/// applies the current one to the whole velocity.
public final class MomentumSGD: OptimizerStorage, Optimizer {
    public init(_ configuration: OptimizerConfiguration, counts: [Int]) throws {
        try super.init(configuration, counts: counts, perSlot: 1)
    }

    public func update(_ s: SlotStep, state index: Int) {
        parallelFor(state[index].count, minimumPerWorker: parallelGrain,
                    Rule(s: s, v: state[index].data, nesterov: configuration.kind == .nesterov,
                         caffe: configuration.form == .caffe))
    }

    private struct Rule: ParallelBody {
        let s: SlotStep
        let v: UnsafeMutablePointer<Float>
        let nesterov: Bool, caffe: Bool

        func callAsFunction(_ worker: Int, _ range: Range<Int>) {
            let (w, m, lr) = (s.w, s.momentum, s.rate)
            for i in range {
                let g = s.gradientScale * s.g[i] + s.decay * w[i]
                let previous = v[i]
                switch (caffe, nesterov) {
                case (true, false):
                    v[i] = m * previous + lr * g
                    w[i] -= v[i]
                case (true, true):
                    v[i] = m * previous + lr * g
                    w[i] -= (1 + m) * v[i] - m * previous
                case (false, false):
                    v[i] = m * previous + g
                    w[i] -= lr * v[i]
                case (false, true):
                    v[i] = m * previous + g
                    w[i] -= lr * (g + m * v[i])
                }
            }
        }
    }
}
