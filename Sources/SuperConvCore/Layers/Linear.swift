import SuperConvKernelsPortable

/// Fully connected layer, as PyTorch's `nn.Linear`: y = x·weightᵀ + bias, on x flattened to
/// [N, I]; weight [O, I], bias [O], y [N, O].
/// Backward: dweight += dyᵀ·x, dbias += Σ_n dy, dx = dy·weight (reshaped to x's shape).
public final class Linear: Layer {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter, bias: Parameter
    private var input: Tensor?
    private let output: Tensor, gradInput: Tensor

    public init(inFeatures: Int, outFeatures: Int) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = try Parameter(name: "weight", shape: Shape(outFeatures, inFeatures))
        bias = try Parameter(name: "bias", shape: Shape(outFeatures))
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        input = x
        let n = x.shape.n
        try output.resize(Shape(n, outFeatures))
        for i in 0..<n { (output.data + i * outFeatures).update(from: bias.value.data, count: outFeatures) }
        sgemm(transposeA: false, transposeB: true, m: n, n: outFeatures, k: inFeatures,
              a: x.data, lda: inFeatures, b: weight.value.data, ldb: inFeatures,
              beta: 1, c: output.data, ldc: outFeatures)
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let x = input else { throw SuperConvError.state("Linear.backward called before forward") }
        let n = x.shape.n
        try gradInput.resize(x.shape)
        sgemm(transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: n,
              a: dy.data, lda: outFeatures, b: x.data, ldb: inFeatures,
              beta: 1, c: weight.gradient!.data, ldc: inFeatures)
        let db = bias.gradient!.data
        for i in 0..<n { for o in 0..<outFeatures { db[o] += dy.data[i * outFeatures + o] } }
        sgemm(transposeA: false, transposeB: false, m: n, n: inFeatures, k: outFeatures,
              a: dy.data, lda: outFeatures, b: weight.value.data, ldb: inFeatures,
              beta: 0, c: gradInput.data, ldc: inFeatures)
        return gradInput
    }
}
