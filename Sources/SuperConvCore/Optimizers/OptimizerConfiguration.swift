/// Which update rule, and its options, as given by the optimizer keys of a trainer or optimizer
/// spec.
public struct OptimizerConfiguration: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case sgd, nesterov, adagrad, adadelta, adam, adamw
    }

    /// SGD and Nesterov come in Caffe's form (lr inside the velocity) and PyTorch's (lr outside).
    public enum Form: String, Sendable {
        case caffe, pytorch
    }

    public var kind: Kind
    public var form: Form
    public var weightDecay: Float
    public var rho: Float
    public var epsilon: Float
    public var beta2: Float
    public var clipNorm: Float

    public static let keys: [SpecSchema.Key] = [
        .init("optimizer", "sgd", "update rule: sgd, nesterov, adagrad, adadelta, adam or adamw"),
        .init("form", "caffe", "sgd and nesterov: caffe (v = m*v + lr*g, w -= v; the paper's) "
              + "or pytorch (v = m*v + g, w -= lr*v)"),
        .init("weight_decay", "0.0001", "L2 weight decay in [0, 1] (decoupled for adamw), "
              + "times each parameter's decay multiplier"),
        .init("rho", "0.95", "adadelta's decay of its running averages, in (0, 1)"),
        .init("eps", "1e-08", "adagrad, adadelta and adam's denominator term, in (0, 1]"),
        .init("beta2", "0.999", "adam's second-moment decay, in [0, 1) (beta1 is the momentum)"),
        .init("clip", "0", "clip gradients to this global L2 norm (Caffe's clip_gradients); 0: off"),
    ]

    public init(_ spec: Spec) throws {
        kind = Kind(rawValue: try spec.choice("optimizer", Kind.allCases.map(\.rawValue)))!
        form = Form(rawValue: try spec.choice("form", ["caffe", "pytorch"]))!
        weightDecay = try spec.float("weight_decay", in: 0...1)
        rho = try spec.float("rho", in: 0...1, excludingLowerBound: true)
        guard rho < 1 else { throw spec.invalid("rho", "expected a number in (0, 1)") }
        epsilon = try spec.float("eps", in: 0...1, excludingLowerBound: true)
        beta2 = try spec.float("beta2", in: 0...1)
        guard beta2 < 1 else { throw spec.invalid("beta2", "expected a number in [0, 1)") }
        clipNorm = try spec.float("clip", in: 0...1e12)
    }

    /// The optimizer for parameter slots of these sizes, with zeroed state.
    public func makeOptimizer(counts: [Int]) throws -> any Optimizer {
        switch kind {
        case .sgd, .nesterov: return try MomentumSGD(self, counts: counts)
        case .adagrad: return try AdaGrad(self, counts: counts)
        case .adadelta: return try AdaDelta(self, counts: counts)
        case .adam, .adamw: return try Adam(self, counts: counts)
        }
    }
}
