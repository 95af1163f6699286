/// The trainer's options, parsed from a trainer spec: the fixed learning rate and momentum used
/// until a schedule is set, the optimizer's keys, and evaluation batching.
public struct TrainerConfiguration: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var optimizer: OptimizerConfiguration
    public var evaluationBatch: Int
    public var preciseBatches: Int
    public var spec: Spec

    public static let schema = SpecSchema(subject: "trainer", keys: [
        .init("lr", "0.1", "learning rate until a schedule is set (sc_trainer_set_schedule)"),
        .init("momentum", "0.9", "momentum (adam's beta1) until a schedule is set, in [0, 0.9999]"),
    ] + OptimizerConfiguration.keys + [
        .init("eval_batch", "250", "samples per forward pass in evaluation (matters with bn_eval=batch)"),
        .init("precise_bn", "0", "evaluate with BatchNorm statistics recomputed from the last K training batches "
              + "under the current weights (precise BN; the running statistics stay as they are); 0: the running ones"),
    ])

    public init(spec text: String) throws {
        let spec = try Self.schema.parse(text)
        learningRate = try spec.float("lr", in: 0...1e6)
        momentum = try spec.float("momentum", in: 0...0.9999)
        optimizer = try OptimizerConfiguration(spec)
        evaluationBatch = try spec.int("eval_batch", in: 1...ResNet.maximumBatch)
        preciseBatches = try spec.int("precise_bn", in: 0...10_000)
        self.spec = spec
    }
}
