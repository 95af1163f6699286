/// The trainer's options, parsed from a trainer spec.
public struct TrainerConfiguration: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    public var evaluationBatch: Int
    public var spec: Spec

    public static let schema = SpecSchema(subject: "trainer", keys: [
        .init("lr", "0.1", "learning rate (the fixed schedule's; a schedule overrides it)"),
        .init("momentum", "0.9", "momentum"),
        .init("weight_decay", "0.0001", "L2 weight decay, scaled by each parameter's decay multiplier"),
        .init("eval_batch", "250", "samples per forward in evaluate (matters with bn_eval=batch)"),
    ])

    public init(spec text: String) throws {
        let spec = try Self.schema.parse(text)
        learningRate = try spec.float("lr", in: 0...1e6)
        momentum = try spec.float("momentum", in: 0...0.9999)
        weightDecay = try spec.float("weight_decay", in: 0...1)
        evaluationBatch = try spec.int("eval_batch", in: 1...ResNet.maximumBatch)
        self.spec = spec
    }
}
