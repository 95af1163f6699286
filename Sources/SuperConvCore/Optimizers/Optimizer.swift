/// A flat view of one parameter for an update rule: its values, its gradient, and Caffe's
/// per-parameter multipliers. Optimizers work on these, so they serve our models and a host's
/// own buffers alike.
public struct ParameterSlot {
    public var value: UnsafeMutablePointer<Float>
    public var gradient: UnsafePointer<Float>
    public let count: Int
    public let learningRateMultiplier: Float
    public let decayMultiplier: Float

    public init(value: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, count: Int,
                learningRateMultiplier: Float = 1, decayMultiplier: Float = 1) {
        self.value = value
        self.gradient = gradient
        self.count = count
        self.learningRateMultiplier = learningRateMultiplier
        self.decayMultiplier = decayMultiplier
    }
}

/// The hyper-parameters a schedule sets for one iteration.
public struct StepHyperparameters: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public init(learningRate: Float, momentum: Float) {
        self.learningRate = learningRate
        self.momentum = momentum
    }
}

/// What an update rule sees of one slot in one step: the effective rate and decay (global value
/// times the slot's multiplier), the momentum, and the factor that gradient clipping applies.
public struct SlotStep {
    public let w: UnsafeMutablePointer<Float>
    public let g: UnsafePointer<Float>
    public let rate: Float
    public let decay: Float
    public let momentum: Float
    public let gradientScale: Float
}

/// An update rule with per-element state. Implementations define the rule for one slot; the
/// shared `step` handles multipliers, clipping and the step count.
public protocol Optimizer: AnyObject {
    var configuration: OptimizerConfiguration { get }
    /// The rule's state, `stateBuffersPerSlot` tensors per slot in slot order (for checkpoints).
    var state: [Tensor] { get }
    /// Completed steps (Adam's bias correction counts them).
    var steps: Int { get set }
    func update(_ slot: SlotStep, state: Int)
}

extension Optimizer {
    /// One update of every slot. `slots` must have the counts the optimizer was created for.
    public func step(_ slots: [ParameterSlot], _ hyper: StepHyperparameters) {
        let scale = gradientScale(slots)
        steps += 1
        for (index, slot) in slots.enumerated() {
            update(SlotStep(w: slot.value, g: slot.gradient,
                            rate: hyper.learningRate * slot.learningRateMultiplier,
                            decay: configuration.weightDecay * slot.decayMultiplier,
                            momentum: hyper.momentum, gradientScale: scale), state: index)
        }
    }

    /// Caffe's `clip_gradients`: when the global L2 norm of all gradients exceeds the threshold,
    /// every gradient is scaled by threshold / norm before decay and update; 1 otherwise.
    func gradientScale(_ slots: [ParameterSlot]) -> Float {
        let threshold = configuration.clipNorm
        guard threshold > 0 else { return 1 }
        var sumOfSquares = 0.0
        for slot in slots {
            for i in 0..<slot.count { sumOfSquares += Double(slot.gradient[i]) * Double(slot.gradient[i]) }
        }
        let norm = sumOfSquares.squareRoot()
        return norm > Double(threshold) ? Float(Double(threshold) / norm) : 1
    }
}

/// What every update rule keeps: its configuration, its state tensors (`perSlot` of them for
/// each slot, zeroed) and its step count. Rules subclass it and add `update`.
public class OptimizerStorage {
    public let configuration: OptimizerConfiguration
    public let state: [Tensor]
    public var steps = 0

    init(_ configuration: OptimizerConfiguration, counts: [Int], perSlot: Int) throws {
        self.configuration = configuration
        var state: [Tensor] = []
        for count in counts {
            for _ in 0..<perSlot { state.append(try Tensor(Shape(count))) }
        }
        self.state = state
    }
}
