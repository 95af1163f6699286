/// 2-D convolution, square kernel, as PyTorch's `nn.Conv2d` (groups 1, dilation 1).
///
/// Shapes: x [N, C, H, W], weight [O, C, K, K], bias [O], y [N, O, OH, OW]; L = OH*OW and
/// R = C*K*K (see `ConvolutionGeometry`). The batch is cut into tiles of B images, B·L about
/// `tileColumns`, so that a tile's column matrix stays in cache; workers take whole tiles.
/// Per tile:
///   col = im2col(x_tile)       [R, B*L]
///   Y   = weight · col         [O, B*L]      weight viewed as [O, R]
///   y[b, o, l] = Y[o, b*L + l] + bias[o]
///
/// Backward, from y = weight · col + bias with dY the incoming gradient laid out as Y:
///   dweight += dY · colᵀ       (each output position contributes its input patch)
///   dbias   += Σ_{b,l} dY[o, ·]
///   dcol     = weightᵀ · dY,   dx = col2im(dcol)   (the adjoint of the gather im2col does)
/// Each worker sums its tiles' dweight in an accumulator of its own; the accumulators are added
/// in worker order, so the result depends only on the thread count.
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int
    public let kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// The first layer of a network needs no input gradient; skipping it saves a GEMM.
    public var computesInputGradient = true
    /// About how many GEMM columns (images x output positions) one tile has.
    public let tileColumns: Int

    private let workspace: Workspace
    private var input: Tensor?
    private let output: Tensor
    private let gradInput: Tensor

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool, workspace: Workspace, tileColumns: Int = 512) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.workspace = workspace
        self.tileColumns = tileColumns
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

    /// Images per tile for a batch of n images with L output positions each.
    private func tileImages(_ l: Int, batch n: Int) -> Int {
        max(1, min(n, tileColumns / max(1, l)))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        let g = geometry(x.shape)
        let n = x.shape.n, l = g.positions, o = outChannels
        try output.resize(outputShape(for: x.shape))
        input = x
        let tile = tileImages(l, batch: n)
        let tiles = (n + tile - 1) / tile
        try workspace.reserve(workers: workerCount(tiles), columns: g.rows * tile * l,
                              product: o * tile * l, accumulator: 0)
        let imageSize = inChannels * g.height * g.width
        let (y, w, b, ws) = (output.data, weight.value.data, bias?.value.data, workspace)
        parallelWorkers(tiles) { worker, range in
            let col = ws.columns(worker), product = ws.product(worker)
            for t in range {
                let first = t * tile, images = min(tile, n - first), columns = images * l
                im2col(x.data + first * imageSize, batch: images, g, into: col)
                // One image: Y is already y's [O, L] block. Several: compute, then scatter.
                let target = images == 1 ? y + first * o * l : product
                sgemm(transposeA: false, transposeB: false, m: o, n: columns, k: g.rows,
                      a: w, lda: g.rows, b: col, ldb: columns, beta: 0, c: target, ldc: columns)
                for i in 0..<images {
                    for ch in 0..<o {
                        let src = target + ch * columns + i * l
                        let dst = y + ((first + i) * o + ch) * l
                        let shift = b?[ch] ?? 0
                        for p in 0..<l { dst[p] = src[p] + shift }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let x = input else { throw SuperConvError.state("Conv2d.backward called before forward") }
        let g = geometry(x.shape)
        let n = x.shape.n, l = g.positions, o = outChannels
        let tile = tileImages(l, batch: n)
        let tiles = (n + tile - 1) / tile
        let workers = workerCount(tiles)
        try workspace.reserve(workers: workers, columns: g.rows * tile * l,
                              product: o * tile * l, accumulator: o * g.rows)
        if computesInputGradient { try gradInput.resize(x.shape) }
        let imageSize = inChannels * g.height * g.width
        let (w, dw, ws, dx) = (weight.value.data, weight.gradient!.data, workspace, gradInput.data)
        let inputGradient = computesInputGradient
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
        parallelWorkers(tiles) { worker, range in
            let col = ws.columns(worker), product = ws.product(worker), accumulator = ws.accumulator(worker)
            accumulator.update(repeating: 0, count: o * g.rows)
            for t in range {
                let first = t * tile, images = min(tile, n - first), columns = images * l
                // dY as [O, B*L]: for one image it is dy's own block; otherwise gathered.
                let dY: UnsafePointer<Float>
                if images == 1 {
                    dY = UnsafePointer(dy.data + first * o * l)
                } else {
                    for i in 0..<images {
                        for ch in 0..<o {
                            (product + ch * columns + i * l).update(from: dy.data + ((first + i) * o + ch) * l, count: l)
                        }
                    }
                    dY = UnsafePointer(product)
                }
                im2col(x.data + first * imageSize, batch: images, g, into: col)
                sgemm(transposeA: false, transposeB: true, m: o, n: g.rows, k: columns,
                      a: dY, lda: columns, b: col, ldb: columns, beta: 1, c: accumulator, ldc: g.rows)
                if inputGradient {
                    sgemm(transposeA: true, transposeB: false, m: g.rows, n: columns, k: o,
                          a: w, lda: g.rows, b: dY, ldb: columns, beta: 0, c: col, ldc: columns)
                    col2im(col, batch: images, g, into: dx + first * imageSize)
                }
            }
        }
        for worker in 0..<workers { addInPlace(dw, workspace.accumulator(worker), count: o * g.rows) }
        return gradInput
    }
}
