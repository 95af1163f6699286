/// 2-D convolution, square kernel, as PyTorch's `nn.Conv2d` (groups 1, dilation 1).
///
/// Shapes: x [N, C, H, W], weight [O, C, K, K], bias [O], y [N, O, OH, OW]; L = OH*OW and
/// R = C*K*K (see `ConvolutionGeometry`). Lowered to one GEMM per chunk of B images:
///   col = im2col(x)            [R, B*L]
///   Y   = weight · col         [O, B*L]      weight viewed as [O, R]
///   y[b, o, l] = Y[o, b*L + l] + bias[o]
///
/// Backward, from y = weight · col + bias with dY the incoming gradient laid out as Y:
///   dweight += dY · colᵀ       (each output position contributes its input patch)
///   dbias   += Σ_{b,l} dY[o, ·]
///   dcol     = weightᵀ · dY,   dx = col2im(dcol)   (the adjoint of the gather im2col does)
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int
    public let kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// The first layer of a network needs no input gradient; skipping it saves a GEMM.
    public var computesInputGradient = true

    private let workspace: Workspace
    private var input: Tensor?
    private let output: Tensor
    private let gradInput: Tensor

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool, workspace: Workspace) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.workspace = workspace
        weight = try Parameter(name: "weight", shape: Shape(outChannels, inChannels, kernel, kernel))
        self.bias = bias ? try Parameter(name: "bias", shape: Shape(outChannels)) : nil
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    func geometry(_ s: Shape) -> ConvolutionGeometry {
        ConvolutionGeometry(channels: inChannels, height: s.h, width: s.w,
                            kernel: kernel, stride: stride, padding: padding)
    }

    public func outputShape(for s: Shape) -> Shape {
        let g = geometry(s)
        return Shape(s.n, outChannels, g.outputHeight, g.outputWidth)
    }

    private func imagesPerChunk(_ g: ConvolutionGeometry, batch: Int) -> Int {
        max(1, min(batch, Workspace.columnBudget / max(1, g.rows * g.positions)))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        let g = geometry(x.shape)
        let n = x.shape.n, l = g.positions, o = outChannels
        try output.resize(outputShape(for: x.shape))
        input = x
        let chunk = imagesPerChunk(g, batch: n)
        let col = try workspace.columns(g.rows * chunk * l)
        let product = try workspace.product(o * chunk * l)
        let imageSize = inChannels * g.height * g.width
        let y = output.data, w = weight.value.data, b = bias?.value.data
        for first in Swift.stride(from: 0, to: n, by: chunk) {
            let images = min(chunk, n - first)
            let columns = images * l
            im2col(x.data + first * imageSize, batch: images, g, into: col)
            sgemm(transposeA: false, transposeB: false, m: o, n: columns, k: g.rows,
                  a: w, lda: g.rows, b: col, ldb: columns, beta: 0, c: product, ldc: columns)
            // Y[o, i*L + l] -> y[first + i, o, l], adding the bias on the way.
            parallelFor(images * o) { range in
                for job in range {
                    let i = job / o, ch = job % o
                    let src = product + ch * columns + i * l
                    let dst = y + ((first + i) * o + ch) * l
                    let shift = b?[ch] ?? 0
                    for p in 0..<l { dst[p] = src[p] + shift }
                }
            }
        }
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let x = input else { throw SuperConvError.state("Conv2d.backward called before forward") }
        let g = geometry(x.shape)
        let n = x.shape.n, l = g.positions, o = outChannels
        let chunk = imagesPerChunk(g, batch: n)
        let col = try workspace.columns(g.rows * chunk * l)
        let product = try workspace.product(o * chunk * l)
        if computesInputGradient { try gradInput.resize(x.shape) }
        let imageSize = inChannels * g.height * g.width
        let w = weight.value.data, dw = weight.gradient!.data
        if let db = bias?.gradient?.data {
            parallelFor(o) { range in
                for ch in range {
                    var s: Float = 0
                    for i in 0..<n {
                        let src = dy.data + (i * o + ch) * l
                        for p in 0..<l { s += src[p] }
                    }
                    db[ch] += s
                }
            }
        }
        for first in Swift.stride(from: 0, to: n, by: chunk) {
            let images = min(chunk, n - first)
            let columns = images * l
            parallelFor(images * o) { range in
                for job in range {
                    let i = job / o, ch = job % o
                    (product + ch * columns + i * l).update(from: dy.data + ((first + i) * o + ch) * l, count: l)
                }
            }
            im2col(x.data + first * imageSize, batch: images, g, into: col)
            sgemm(transposeA: false, transposeB: true, m: o, n: g.rows, k: columns,
                  a: product, lda: columns, b: col, ldb: columns, beta: 1, c: dw, ldc: g.rows)
            if computesInputGradient {
                sgemm(transposeA: true, transposeB: false, m: g.rows, n: columns, k: o,
                      a: w, lda: g.rows, b: product, ldb: columns, beta: 0, c: col, ldc: columns)
                col2im(col, batch: images, g, into: gradInput.data + first * imageSize)
            }
        }
        return gradInput
    }
}
