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
        parallelFor(tiles, ForwardTiles(g: g, n: n, o: o, tile: tile, x: x.data, y: output.data,
                                        weight: weight.value.data, bias: bias?.value.data, workspace: workspace))
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
        if let db = bias?.gradient?.data {
            parallelFor(o, BiasGradient(n: n, o: o, l: l, dy: dy.data, db: db))
        }
        parallelFor(tiles, BackwardTiles(g: g, n: n, o: o, tile: tile, x: x.data, dy: dy.data,
                                         weight: weight.value.data,
                                         dx: computesInputGradient ? gradInput.data : nil, workspace: workspace))
        let dw = weight.gradient!.data
        for worker in 0..<workers { addInPlace(dw, workspace.accumulator(worker), count: o * g.rows) }
        return gradInput
    }
}

/// Forward over tiles: lower, multiply, and lay Y out as NCHW with the bias added.
private struct ForwardTiles: ParallelBody {
    let g: ConvolutionGeometry
    let n: Int, o: Int, tile: Int
    let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
    let weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?
    let workspace: Workspace

    func callAsFunction(_ worker: Int, _ tiles: Range<Int>) {
        let l = g.positions, imageSize = g.channels * g.height * g.width
        let col = workspace.columns(worker), product = workspace.product(worker)
        for t in tiles {
            let first = t * tile, images = min(tile, n - first), columns = images * l
            im2col(x + first * imageSize, batch: images, g, into: col)
            // One image: Y is already y's [O, L] block. Several: compute, then scatter.
            let target = images == 1 ? y + first * o * l : product
            sgemm(transposeA: false, transposeB: false, m: o, n: columns, k: g.rows,
                  a: weight, lda: g.rows, b: col, ldb: columns, beta: 0, c: target, ldc: columns)
            for i in 0..<images {
                for ch in 0..<o {
                    let src = target + ch * columns + i * l
                    let dst = y + ((first + i) * o + ch) * l
                    let shift = bias?[ch] ?? 0
                    for p in 0..<l { dst[p] = src[p] + shift }
                }
            }
        }
    }
}

/// dbias[o] += Σ over images and positions of dy[·, o, ·], one channel per item.
private struct BiasGradient: ParallelBody {
    let n: Int, o: Int, l: Int
    let dy: UnsafePointer<Float>, db: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ channels: Range<Int>) {
        for ch in channels {
            var s: Float = 0
            for i in 0..<n {
                let src = dy + (i * o + ch) * l
                for p in 0..<l { s += src[p] }
            }
            db[ch] += s
        }
    }
}

/// Backward over tiles: each worker accumulates dweight in its own accumulator and, when dx
/// is wanted, scatters dcol back through col2im.
private struct BackwardTiles: ParallelBody {
    let g: ConvolutionGeometry
    let n: Int, o: Int, tile: Int
    let x: UnsafePointer<Float>, dy: UnsafePointer<Float>
    let weight: UnsafePointer<Float>
    let dx: UnsafeMutablePointer<Float>?
    let workspace: Workspace

    func callAsFunction(_ worker: Int, _ tiles: Range<Int>) {
        let l = g.positions, imageSize = g.channels * g.height * g.width
        let col = workspace.columns(worker), product = workspace.product(worker)
        let accumulator = workspace.accumulator(worker)
        accumulator.update(repeating: 0, count: o * g.rows)
        for t in tiles {
            let first = t * tile, images = min(tile, n - first), columns = images * l
            // dY as [O, B*L]: for one image it is dy's own block; otherwise gathered.
            let dY: UnsafePointer<Float>
            if images == 1 {
                dY = dy + first * o * l
            } else {
                for i in 0..<images {
                    for ch in 0..<o {
                        (product + ch * columns + i * l).update(from: dy + ((first + i) * o + ch) * l, count: l)
                    }
                }
                dY = UnsafePointer(product)
            }
            im2col(x + first * imageSize, batch: images, g, into: col)
            sgemm(transposeA: false, transposeB: true, m: o, n: g.rows, k: columns,
                  a: dY, lda: columns, b: col, ldb: columns, beta: 1, c: accumulator, ldc: g.rows)
            if let dx {
                sgemm(transposeA: true, transposeB: false, m: g.rows, n: columns, k: o,
                      a: weight, lda: g.rows, b: dY, ldb: columns, beta: 0, c: col, ldc: columns)
                col2im(col, batch: images, g, into: dx + first * imageSize)
            }
        }
    }
}
