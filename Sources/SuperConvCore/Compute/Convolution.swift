import SuperConvKernelsAVX2
import SuperConvKernelsAVX512
import SuperConvKernelsPortable

/// What a convolution reads as its input x [N, C, H, W].
struct ConvolutionInput {
    let x: UnsafePointer<Float>
    /// When set, x is a batch norm's input and the convolution reads affine(x) instead, mapping
    /// each image as it copies it: the batch norm's output is never written. Only where every
    /// read goes through such a copy (`ConvolutionPlan.mapsInputAsItReads`).
    let affine: ChannelAffine?

    init(_ x: Tensor) {
        self.x = UnsafePointer(x.data)
        affine = nil
    }

    init(mapping x: Tensor, through affine: ChannelAffine) {
        self.x = UnsafePointer(x.data)
        self.affine = affine
    }
}

/// Where a convolution's backward finds dy, the gradient of its output.
enum ConvolutionOutputGradient {
    case stored(UnsafePointer<Float>)
    /// dy is the input gradient of the batch norm that read the output, left as its coefficients:
    /// the direct path forms it image by image as it pads it (an activation-sized write and read
    /// fewer). The GEMM path reads dy whole, and dx of another shape could overwrite what dy is
    /// formed from: then dy is written out into `spill` first, which must be as large as dy and
    /// overlap neither dy's sources nor dx.
    case normalizing(NormalizeGradientPlanes, spill: UnsafeMutablePointer<Float>)
}

/// 2-D convolution with a square kernel, as PyTorch's `nn.Conv2d` (groups 1, dilation 1): its
/// parameters and its passes, which read and write buffers the caller owns (the layer `Conv2d`, or
/// a fused block).
///
/// Shapes: x [N, C, H, W], weight [O, C, K, K], bias [O], y [N, O, OH, OW]; L = OH·OW and
/// R = C·K·K (see `ConvolutionGeometry`).
///
/// GEMM path (every shape, every instruction set). The batch is cut into tiles of B images,
/// B·L about `tileColumns`, so that a tile's column matrix stays in cache; workers take whole
/// tiles. Per tile:
///   col = im2col(x_tile)       [R, B·L]
///   Y   = weight · col         [O, B·L]      weight viewed as [O, R]
///   y[b, o, l] = Y[o, b·L + l] + bias[o]
/// Backward, from y = weight · col + bias with dY the incoming gradient laid out as Y:
///   dweight += dY · colᵀ       (each output position contributes its input patch)
///   dbias   += Σ_{b,l} dY[o, ·]
///   dcol     = weightᵀ · dY,   dx = col2im(dcol)   (the adjoint of the gather im2col does)
///
/// Direct path (3x3 stride-1 on AVX2 and AVX-512, see `InstructionSet`), image by image from zero-padded
/// copies: y from x; dx from dy with the same kernel, since the input gradient of a stride-1
/// "same" convolution is the forward convolution of dy with the kernel flipped in both axes and
/// its channel axes swapped,
///   dx[c, i, j] = Σ_o Σ_kh,kw  w[o, c, 2 − kh, 2 − kw] · dy[o, i + kh − 1, j + kw − 1];
/// and dweight as the correlation of dy with x, with dbias summed from each image of dy as it
/// is padded. Forward and dx take the Winograd kernels instead of the direct ones where the
/// image's shape suits them (`winogradSet`): the same padded copies in, other packed weights.
///
/// dweight (and on the direct path dbias) is summed per chunk of the batch
/// (`weightGradientChunks` fixed chunks of whole tiles or images, whichever worker runs them)
/// and the chunks' sums are added in order, so the result is the same for every thread count.
public final class Convolution {
    public let inChannels: Int, outChannels: Int
    public let kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// Whether backward computes dx (a network's first layer needs none: a GEMM saved).
    public let computesInputGradient: Bool
    public let instructionSet: InstructionSet
    let plan: ConvolutionPlan
    let tuning: ConvolutionTuning
    private let workspace: Workspace
    /// Weights packed for the direct kernels: forward [O/B][C][9][B], backward [C/B][O][9][B], B the
    /// kernels' `outputChannelBlock`; for the Winograd kernels transformed, [16][O/B][C][B] and
    /// [16][C/B][O][B].
    private let packedForward: Tensor
    private let packedBackward: Tensor

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool, computesInputGradient: Bool = true, instructionSet: InstructionSet = .selected,
                workspace: Workspace, tuning: ConvolutionTuning = ConvolutionTuning()) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.computesInputGradient = computesInputGradient
        self.instructionSet = instructionSet
        self.workspace = workspace
        self.tuning = tuning
        plan = instructionSet.convolutionPlan(kernel: kernel, stride: stride, padding: padding,
                                              inChannels: inChannels, outChannels: outChannels,
                                              computesInputGradient: computesInputGradient)
        weight = try Parameter(name: "weight", shape: Shape(outChannels, inChannels, kernel, kernel))
        self.bias = bias ? try Parameter(name: "bias", shape: Shape(outChannels)) : nil
        packedForward = try Tensor(Shape(1))
        packedBackward = try Tensor(Shape(1))
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
        max(1, min(n, tuning.tileColumns / max(1, l)))
    }

    /// Chunks of the weight gradient's sum for `items` images or tiles, with `accumulator` floats
    /// of partial sums each: fixed, so that the summation order does not depend on the thread
    /// count; many, so that the worker that finishes first waits for a small chunk only (the
    /// chunks are a region's items, see `WorkerPool`); at least 32 where there are as many items,
    /// and more while all accumulators together stay within 1 MiB (the small first-stage layers:
    /// one image per chunk), since adding them up is a pass over all of them.
    static func weightGradientChunks(_ items: Int, accumulator: Int) -> Int {
        max(1, min(items, max(32, (1 << 18) / max(1, accumulator))))
    }

    /// y = conv(x) + bias, x of `shape`; y is resized to the output shape. With `moments`, each
    /// output plane's moments are recorded as it is stored, while it is in cache.
    func forward(_ input: ConvolutionInput, shape: Shape, into y: Tensor, recording moments: PlaneMoments?) throws {
        try checkMapping(input)
        let g = geometry(shape)
        let n = shape.n, l = g.positions, o = outChannels
        try y.resize(outputShape(for: shape))
        try moments?.prepare(for: y.shape)
        switch (plan.forward, plan.directKernels) {
        case (.direct3x3, .avx512) where winogradSet(g) != nil:
            return try directForward(AVX512WinogradKernels.self, input, g, n: n, into: y, recording: moments)
        case (.direct3x3, .avx512):
            return try directForward(AVX512Kernels.self, input, g, n: n, into: y, recording: moments)
        case (.direct3x3, _) where winogradSet(g) != nil:
            return try directForward(AVX2WinogradKernels.self, input, g, n: n, into: y, recording: moments)
        case (.direct3x3, _):
            return try directForward(AVX2Kernels.self, input, g, n: n, into: y, recording: moments)
        case (.directDownsampling, _) where AVX512DownsamplingKernels.takes(width: g.width):
            return try directForward(AVX512DownsamplingKernels.self, input, g, n: n, into: y, recording: moments)
        default:
            break
        }
        let tile = tileImages(l, batch: n)
        let tiles = (n + tile - 1) / tile
        try workspace.reserve(workers: workerCount(tiles), columns: g.rows * tile * l, product: o * tile * l)
        parallelFor(tiles, ForwardTiles(g: g, n: n, o: o, tile: tile, x: input.x, y: y.data,
                                        weight: weight.value.data, bias: bias?.value.data, moments: moments,
                                        workspace: workspace))
    }

    private func directForward<K: DirectForwardKernels>(_ kernels: K.Type, _ input: ConvolutionInput, _ g: ConvolutionGeometry,
                                                 n: Int, into y: Tensor, recording moments: PlaneMoments?) throws {
        let o = outChannels, c = inChannels, w = weight.value.data
        try packedForward.resize(Shape(K.packedWeightCount(inChannels: c, outChannels: o)))
        K.packWeights(into: packedForward.data, inChannels: c, outChannels: o) { o, ci, t in w[(o * c + ci) * 9 + t] }
        let padded = paddedImageSize(channels: c, height: g.height, width: g.width)
        let scratch = K.scratchCount(inChannels: c, outChannels: o, height: g.height, width: g.width,
                                     cacheBytes: tuning.winogradBlockBytes)
        try workspace.reserve(workers: workerCount(n), columns: padded + scratch, product: 1)
        parallelFor(n, DirectForward<K>(channels: c, outChannels: o, h: g.height, w: g.width,
                                        outputPlane: g.positions, x: input.x, affine: input.affine, y: y.data,
                                        weights: packedForward.data, bias: bias?.value.data, moments: moments,
                                        cacheBytes: tuning.winogradBlockBytes, workspace: workspace))
    }

    /// Adds dweight (and dbias) of the last forward's x of `shape` into the parameters' gradients
    /// and, when `dx` is given (and `computesInputGradient`), writes dx there, resized to `shape`.
    /// dx may be the tensor a `.normalizing` dy is formed from when it has dy's shape: each image
    /// is read before its dx is written.
    func backward(_ input: ConvolutionInput, shape: Shape, gradient: ConvolutionOutputGradient,
                  inputGradient dx: Tensor?) throws {
        let g = geometry(shape)
        switch plan.directKernels {
        case .avx512 where winogradSet(g) != nil:
            try backward(AVX512Kernels.self, AVX512WinogradKernels.self, input, shape: shape, gradient: gradient, inputGradient: dx)
        case .avx512:
            try backward(AVX512Kernels.self, AVX512Kernels.self, input, shape: shape, gradient: gradient, inputGradient: dx)
        case _ where winogradSet(g) != nil:
            try backward(AVX2Kernels.self, AVX2WinogradKernels.self, input, shape: shape, gradient: gradient, inputGradient: dx)
        default:
            try backward(AVX2Kernels.self, AVX2Kernels.self, input, shape: shape, gradient: gradient, inputGradient: dx)
        }
    }

    /// Whose Winograd kernels the direct stride-1 passes (forward, and dx where it is direct) of
    /// images of this geometry run: the plan's set where the tuning allows Winograd and the set's
    /// kernels take the shape; nil for the direct kernels (or none).
    private func winogradSet(_ g: ConvolutionGeometry) -> InstructionSet? {
        guard tuning.winograd, plan.forward == .direct3x3, let set = plan.directKernels else { return nil }
        let takes = set == .avx512 ? AVX512WinogradKernels.takes(height: g.height, width: g.width)
            : AVX2WinogradKernels.takes(height: g.height, width: g.width)
        return takes ? set : nil
    }

    /// Whether forward (and dx, where it is direct) of inputs of `shape` run the Winograd kernels.
    func runsWinograd(on shape: Shape) -> Bool { winogradSet(geometry(shape)) != nil }

    /// `backward` with the direct kernels of `K` where the plan runs direct kernels, and dx with
    /// `D`'s forward kernel.
    private func backward<K: DirectKernels, D: DirectForwardKernels>(_ kernels: K.Type, _ dxKernels: D.Type,
                                                                   _ input: ConvolutionInput, shape: Shape,
                                                                   gradient: ConvolutionOutputGradient,
                                                                   inputGradient dx: Tensor?) throws {
        try checkMapping(input)
        let g = geometry(shape)
        let n = shape.n, l = g.positions, o = outChannels
        let dw = weight.gradient!.data
        let directData = plan.inputGradient == .direct3x3, directWeights = plan.weightGradient == .direct3x3
        let dx = computesInputGradient ? dx : nil
        // The direct path sums dbias per chunk too, from each image of dy as it pads it (a pass
        // over dy fewer); the GEMM path in a pass of its own.
        let db = bias?.gradient?.data
        let chunkedBias = directWeights && db != nil
        var dy: UnsafePointer<Float>, formed: NormalizeGradientPlanes?
        switch gradient {
        case .stored(let stored):
            (dy, formed) = (stored, nil)
        case .normalizing(let planes, let spill):
            if directWeights && (dx == nil || shape == outputShape(for: shape)) {
                (dy, formed) = (planes.dy, planes)
            } else {
                parallelFor(n, FormGradient(planes: planes, dy: spill, imageSize: o * l))
                (dy, formed) = (UnsafePointer(spill), nil)
            }
        }
        // Only now: resizing may move the storage a formed dy was read from.
        try dx?.resize(shape)
        if let db, !chunkedBias { parallelFor(o, BiasGradient(n: n, o: o, l: l, dy: dy, db: db)) }
        let tile = tileImages(l, batch: n)
        let tiles = (n + tile - 1) / tile
        let direct = directWeights || directData
        // The direct kernel sums dweight channels-last, [O][3][3][Cp] (see `WeightGradientSum`),
        // then dbias when chunked.
        let weightSums = directWeights ? o * 9 * K.transposedChannels(inChannels) : o * g.rows
        let accumulated = weightSums + (chunkedBias ? o : 0)
        // dweight's chunks are of whole images (direct) or tiles (GEMM), one accumulator each; the
        // direct kernels take the batch in chunks of images either way (one image each when they
        // only form dx).
        let chunks = Self.weightGradientChunks(directWeights ? n : tiles, accumulator: accumulated)
        let imageChunks = directWeights ? chunks : n
        let group = DirectBackward<K, D>.group(height: g.height, weights: directWeights)
        // Only the direct path may call into a set's kernels: the portable set runs on CPUs that
        // cannot execute the others' code.
        let transposed = directWeights ? group * K.transposedImageSize(channels: inChannels, height: g.height,
                                                                       width: g.width) : 0
        // Per worker: the group's padded dy, then one image of a formed dy, then the dx kernel's
        // scratch.
        let paddedGradients = group * paddedImageSize(channels: o, height: g.height, width: g.width)
            + (formed != nil ? o * l : 0)
            + (directData ? D.scratchCount(inChannels: o, outChannels: inChannels, height: g.height, width: g.width,
                                           cacheBytes: tuning.winogradBlockBytes) : 0)
        try workspace.reserve(workers: max(workerCount(chunks), workerCount(imageChunks)),
                              columns: max(directWeights ? transposed : g.rows * tile * l, 1),
                              product: max(direct ? paddedGradients : 0, directWeights ? 0 : o * tile * l),
                              chunks: chunks, accumulator: accumulated)
        if !directWeights {
            parallelFor(chunks, BackwardTiles(g: g, n: n, o: o, tile: tile, tiles: tiles, chunks: chunks,
                                              x: input.x, dy: dy, weight: weight.value.data,
                                              dx: directData ? nil : dx?.data, workspace: workspace))
        }
        if direct {
            if directData {
                // w'[c, o, t] = w[o, c, 8 − t]: the flipped kernel with its channel axes swapped.
                let c = inChannels, w = weight.value.data
                try packedBackward.resize(Shape(D.packedWeightCount(inChannels: o, outChannels: c)))
                D.packWeights(into: packedBackward.data, inChannels: o, outChannels: c) { ci, oc, t in w[(oc * c + ci) * 9 + 8 - t] }
            }
            parallelFor(imageChunks, DirectBackward<K, D>(channels: inChannels, outChannels: o, h: g.height, w: g.width,
                                                    n: n, chunks: imageChunks, accumulatorSize: accumulated,
                                                    biasSums: chunkedBias ? weightSums : nil,
                                                    x: directWeights ? input.x : nil, affine: input.affine,
                                                    dy: dy, formed: formed,
                                                    dx: directData ? dx?.data : nil,
                                                    weights: packedBackward.data,
                                                    cacheBytes: tuning.winogradBlockBytes, workspace: workspace))
        }
        parallelFor(o, WeightGradientSum(chunks: chunks, outChannels: o, workspace: workspace,
                                         dw: dw, db: chunkedBias ? db : nil,
                                         channels: inChannels, taps: g.rows / inChannels,
                                         transposedChannels: directWeights ? K.transposedChannels(inChannels) : nil))
    }

    private func checkMapping(_ input: ConvolutionInput) throws {
        guard input.affine == nil || plan.mapsInputAsItReads else {
            throw SuperConvError.state("Convolution: a mapped input needs the direct kernels, which this one does not run")
        }
    }
}

private struct DirectForward<K: DirectForwardKernels>: ParallelBody {
    let channels: Int, outChannels: Int, h: Int, w: Int, outputPlane: Int
    let x: UnsafePointer<Float>, affine: ChannelAffine?, y: UnsafeMutablePointer<Float>
    let weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?
    let moments: PlaneMoments?
    let cacheBytes: Int
    let workspace: Workspace

    func callAsFunction(_ worker: Int, _ images: Range<Int>) {
        let padded = workspace.columns(worker), plane = h * w
        let scratch = padded + paddedImageSize(channels: channels, height: h, width: w)
        for i in images {
            let output = y + i * outChannels * outputPlane
            K.padImage(x + i * channels * plane, into: padded, channels: channels, height: h, width: w, affine: affine)
            K.convolve(padded: padded, packedWeights: weights, bias: bias, output: output,
                       scratch: scratch, cacheBytes: cacheBytes, inChannels: channels, outChannels: outChannels, height: h, width: w)
            for ch in 0..<outChannels {
                moments?.record(output + ch * outputPlane, count: outputPlane, at: i * outChannels + ch)
            }
        }
    }
}

/// The direct backward over chunks of images, a group at a time (`weightGradientImages`; one
/// when only dx is wanted): dweight of each chunk into the chunk's accumulator, channels last
/// (when x is given), and dbias after it (from `biasSums` on, when given) as each image of dy is
/// padded, dy formed first when `formed` is given, and x mapped by `affine` when given; dx (when
/// wanted) image by image as `D`'s forward kernel on the padded dy with the flipped, transposed
/// weights. An image's dx may overwrite what its dy was formed from: each image is padded before
/// its dx is written.
private struct DirectBackward<K: DirectKernels, D: DirectForwardKernels>: ParallelBody {
    let channels: Int, outChannels: Int, h: Int, w: Int
    let n: Int, chunks: Int, accumulatorSize: Int, biasSums: Int?
    let x: UnsafePointer<Float>?, affine: ChannelAffine?
    let dy: UnsafePointer<Float>, formed: NormalizeGradientPlanes?
    let dx: UnsafeMutablePointer<Float>?
    let weights: UnsafePointer<Float>
    let cacheBytes: Int
    let workspace: Workspace

    /// Images padded together: the workspace holds this many padded images per worker.
    static func group(height h: Int, weights: Bool) -> Int { weights ? weightGradientImages(height: h) : 1 }

    func callAsFunction(_ worker: Int, _ chunkRange: Range<Int>) {
        let transposedX = workspace.columns(worker), paddedDY = workspace.product(worker)
        let group = Self.group(height: h, weights: x != nil)
        let inputStride = K.transposedImageSize(channels: channels, height: h, width: w)
        let gradientStride = paddedImageSize(channels: outChannels, height: h, width: w)
        let formedImage = paddedDY + group * gradientStride
        let scratch = formedImage + (formed != nil ? outChannels * h * w : 0)
        for chunk in chunkRange {
            let accumulator = x != nil ? workspace.accumulator(chunk) : nil
            accumulator?.update(repeating: 0, count: accumulatorSize)
            let images = evenPart(chunk, of: chunks, count: n)
            var first = images.lowerBound
            while first < images.upperBound {
                let count = min(group, images.upperBound - first)
                for j in 0..<count {
                    let gradient: UnsafePointer<Float>
                    if let formed {
                        formed.write(image: first + j, into: formedImage)
                        gradient = UnsafePointer(formedImage)
                    } else {
                        gradient = dy + (first + j) * outChannels * h * w
                    }
                    K.padImage(gradient, into: paddedDY + j * gradientStride, channels: outChannels, height: h, width: w,
                               affine: nil)
                    if let accumulator, let biasSums {
                        for ch in 0..<outChannels {
                            accumulator[biasSums + ch] += Float(sum(gradient + ch * h * w, count: h * w))
                        }
                    }
                    if let x {
                        K.padImageTransposed(x + (first + j) * channels * h * w, into: transposedX + j * inputStride,
                                             channels: channels, height: h, width: w, affine: affine)
                    }
                }
                if let accumulator {
                    K.addWeightGradient(transposedInputs: transposedX, paddedGradients: paddedDY, images: count,
                                        into: accumulator, inChannels: channels, outChannels: outChannels,
                                        height: h, width: w)
                }
                if let dx {
                    for j in 0..<count {
                        D.convolve(padded: paddedDY + j * gradientStride, packedWeights: weights, bias: nil,
                                   output: dx + (first + j) * channels * h * w, scratch: scratch, cacheBytes: cacheBytes,
                                   inChannels: outChannels, outChannels: channels, height: h, width: w)
                    }
                }
                first += count
            }
        }
    }
}

/// Forward over tiles: lower, multiply, and lay Y out as NCHW with the bias added, recording each
/// output plane's moments.
private struct ForwardTiles: ParallelBody {
    let g: ConvolutionGeometry
    let n: Int, o: Int, tile: Int
    let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
    let weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?
    let moments: PlaneMoments?
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
                    moments?.record(dst, count: l, at: (first + i) * o + ch)
                }
            }
        }
    }
}

/// A batch norm's dx written out as a convolution's dy, one image per item.
private struct FormGradient: ParallelBody {
    let planes: NormalizeGradientPlanes
    let dy: UnsafeMutablePointer<Float>
    let imageSize: Int

    func callAsFunction(_ worker: Int, _ images: Range<Int>) {
        for i in images { planes.write(image: i, into: dy + i * imageSize) }
    }
}

/// dbias[o] += Σ over images and positions of dy[·, o, ·], one channel per item.
private struct BiasGradient: ParallelBody {
    let n: Int, o: Int, l: Int
    let dy: UnsafePointer<Float>, db: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ channels: Range<Int>) {
        for ch in channels {
            // 8 lanes per plane, planes summed in double: a scalar float chain would wait on one
            // dependent add per element.
            var s = 0.0
            for i in 0..<n { s += sum(dy + (i * o + ch) * l, count: l) }
            db[ch] += Float(s)
        }
    }
}

/// Backward over chunks of tiles: each chunk's dweight into the chunk's accumulator and, when dx
/// is wanted, dcol scattered back through col2im.
private struct BackwardTiles: ParallelBody {
    let g: ConvolutionGeometry
    let n: Int, o: Int, tile: Int, tiles: Int, chunks: Int
    let x: UnsafePointer<Float>, dy: UnsafePointer<Float>
    let weight: UnsafePointer<Float>
    let dx: UnsafeMutablePointer<Float>?
    let workspace: Workspace

    func callAsFunction(_ worker: Int, _ chunkRange: Range<Int>) {
        let l = g.positions, imageSize = g.channels * g.height * g.width
        let col = workspace.columns(worker), product = workspace.product(worker)
        for chunk in chunkRange {
            let accumulator = workspace.accumulator(chunk)
            accumulator.update(repeating: 0, count: o * g.rows)
            for t in evenPart(chunk, of: chunks, count: tiles) {
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
}

/// Adds the chunks' accumulators up, in chunk order (the same sums for every thread count), and
/// the total to dweight and, when given, dbias; one output channel per item. An accumulator holds
/// dweight as [O][C·taps] (GEMM path) or channels last as [O][taps][Cp] (direct kernel,
/// `transposedChannels`), then dbias [O] when the direct path summed it. Chunk 0's accumulator
/// receives the total. One region, where adding each chunk in turn took a region per chunk, and
/// a serial pass for small layers.
private struct WeightGradientSum: ParallelBody {
    let chunks: Int, outChannels: Int
    let workspace: Workspace
    let dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>?
    let channels: Int, taps: Int, transposedChannels: Int?

    func callAsFunction(_ worker: Int, _ outputs: Range<Int>) {
        let block = taps * (transposedChannels ?? channels), biasSums = outChannels * block
        let total = workspace.accumulator(0)
        for oc in outputs {
            let sums = total + oc * block
            for chunk in 1..<chunks {
                let partial = workspace.accumulator(chunk)
                addInPlace(sums, partial + oc * block, range: 0..<block)
                if db != nil { total[biasSums + oc] += partial[biasSums + oc] }
            }
            db?[oc] += total[biasSums + oc]
            if let cp = transposedChannels {
                for c in 0..<channels {
                    for t in 0..<taps { dw[(oc * channels + c) * taps + t] += sums[t * cp + c] }
                }
            } else {
                for r in 0..<block { dw[oc * block + r] += sums[r] }
            }
        }
    }
}
