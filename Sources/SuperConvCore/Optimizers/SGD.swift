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
        let m = hyper.momentum
        for (slot, v) in zip(slots, velocity) {
            let rate = hyper.learningRate * slot.learningRateMultiplier
            let decay = weightDecay * slot.decayMultiplier
            let (w, g, vel) = (slot.value, slot.gradient, v.data)
            parallelFor(slot.count, minimumPerWorker: parallelGrain) { range in
                for i in range {
                    vel[i] = m * vel[i] + rate * (g[i] + decay * w[i])
                    w[i] -= vel[i]
                }
            }
        }
    }

    /// The momentum buffers, in slot order (for checkpoints).
    public var state: [Tensor] { velocity }
}
