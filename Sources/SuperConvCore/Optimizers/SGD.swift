/// Stochastic gradient descent with momentum and L2 weight decay in Caffe's form
/// (Caffe `SGDSolver::ComputeUpdateValue`, as used by the paper):
///
///   v ← m·v + lr·lr_mult·(g + wd·decay_mult·w)
///   w ← w − v
///
/// The learning rate sits inside the velocity, so a schedule that changes lr changes the step
/// only gradually (unlike PyTorch's form, where lr multiplies the velocity).
public final class SGD: Optimizer {
    public let slots: [ParameterSlot]
    public let weightDecay: Float
    private let velocity: [Tensor]

    public init(slots: [ParameterSlot], weightDecay: Float) throws {
        self.slots = slots
        self.weightDecay = weightDecay
        velocity = try slots.map { try Tensor(Shape($0.count)) }
    }

    public func step(_ hyper: StepHyperparameters) {
        for (slot, v) in zip(slots, velocity) {
            parallelFor(slot.count, minimumPerWorker: parallelGrain,
                        Update(w: slot.value, g: slot.gradient, v: v.data, momentum: hyper.momentum,
                               rate: hyper.learningRate * slot.learningRateMultiplier,
                               decay: weightDecay * slot.decayMultiplier))
        }
    }

    private struct Update: ParallelBody {
        let w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, v: UnsafeMutablePointer<Float>
        let momentum: Float, rate: Float, decay: Float

        func callAsFunction(_ worker: Int, _ range: Range<Int>) {
            for i in range {
                v[i] = momentum * v[i] + rate * (g[i] + decay * w[i])
                w[i] -= v[i]
            }
        }
    }

    /// The momentum buffers, in slot order (for checkpoints).
    public var state: [Tensor] { velocity }
}
