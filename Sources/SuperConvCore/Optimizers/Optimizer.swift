/// A flat view of one parameter for an update rule: its values, its gradient, and Caffe's
/// per-parameter multipliers. Optimizers work on these, so they serve our models and a host's
/// own buffers alike.
public struct ParameterSlot {
    public let value: UnsafeMutablePointer<Float>
    public let gradient: UnsafePointer<Float>
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

    public init(_ p: Parameter) {
        self.init(value: p.value.data, gradient: p.gradient!.data, count: p.value.count,
                  learningRateMultiplier: p.learningRateMultiplier, decayMultiplier: p.decayMultiplier)
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

/// An update rule over a fixed list of parameter slots; its state (velocities, moments) is
/// sized for those slots when it is created.
public protocol Optimizer: AnyObject {
    var slots: [ParameterSlot] { get }
    func step(_ hyper: StepHyperparameters)
}
