/// Whether a forward pass trains (batch statistics, dropout active, caches for backward) or
/// infers.
public enum Mode: Sendable {
    case training
    case inference
}

/// One differentiable operation with a single input and a single output.
///
/// `forward` returns a tensor owned by the layer, valid until its next forward; it keeps what
/// `backward` needs. `backward` takes dLoss/dOutput and returns dLoss/dInput (also layer-owned),
/// and adds dLoss/dParameter into each trainable parameter's gradient, so gradients accumulate
/// until the trainer zeroes them.
public protocol Layer: AnyObject {
    /// Parameters and running statistics under local names ("weight", "running_mean").
    var parameters: [Parameter] { get }
    func forward(_ input: Tensor, mode: Mode) throws -> Tensor
    func backward(_ gradOutput: Tensor) throws -> Tensor
}

extension Layer {
    public var parameters: [Parameter] { [] }
}
