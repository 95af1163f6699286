import SuperConvKernelsAVX2

/// How running statistics accumulate during training.
public enum BatchNormStatistics: Sendable, Equatable {
    /// Caffe's BatchNorm layer, as the paper used it: with maf the moving-average fraction,
    ///   s ← maf·s + 1,  mean_acc ← maf·mean_acc + mean_B,  var_acc ← maf·var_acc + m/(m−1)·var_B,
    /// and eval normalises with mean_acc/s and var_acc/s. `running_mean`/`running_var` store those
    /// quotients, so the accumulators are s·running_*; s itself is kept in `statisticsWeight`.
    case caffe(movingAverageFraction: Float)
    /// PyTorch's `momentum`: running ← (1−momentum)·running + momentum·batch (unbiased variance),
    /// which is the Caffe rule without the 1/s bias correction, with momentum = 1 − maf.
    case pytorch(momentum: Float)
}

/// Which statistics normalise in inference mode: the running (global) ones, as PyTorch's eval,
/// or the batch's own, as Caffe's `use_global_stats: false` at test time.
public enum BatchNormInference: String, Sendable {
    case global
    case batch
}

/// Batch normalisation over N, H and W for each channel, with a learnt scale and shift, as
/// PyTorch's `nn.BatchNorm2d` (Caffe's BatchNorm followed by Scale with bias).
///
/// Per channel c, with m = N·H·W values x_i:
///   μ = Σx_i/m,  σ² = Σ(x_i−μ)²/m (biased, to normalise),  x̂_i = (x_i−μ)/√(σ²+ε),
///   y_i = γ·x̂_i + β.
/// Backward with batch statistics (μ and σ depend on every x_i): with g_i = dy_i·γ,
///   dx_i = (1/√(σ²+ε)) · (g_i − mean(g) − x̂_i·mean(g·x̂)),
///   dγ += Σ dy_i·x̂_i,  dβ += Σ dy_i.
/// With fixed (running) statistics μ and σ are constants and dx_i = g_i/√(σ²+ε).
/// x̂ is not stored: backward recomputes it from the input, which the layer before keeps, and
/// saves a tensor per layer and a pass over memory. The batch statistics are combined from
/// per-plane moments (`PlaneMoments`), which the convolution before records as it writes its
/// output (`reads(outputOf:)`), saving another; and that convolution forms dx image by image as
/// it reads it (`Deferred`), so that backward only sums. A convolution reading this layer's
/// output may likewise map it from x as it reads it (`Conv2d.reads(outputOf:)`): then forward
/// only computes the statistics.
///
/// With `appliesReLU` the layer outputs relu(y) (BN followed by ReLU, fused: one pass over
/// memory instead of three); backward then first masks dy where y ≤ 0, which is ReLU's
/// backward, recomputing y from x rather than reading the output back (a stream less in each of
/// its two passes).
///
/// Running statistics change only in `commitStatistics`, which the trainer calls once a step is
/// accepted, so a rejected (non-finite) step leaves them untouched.
public final class BatchNorm2d: Layer {
    public let channels: Int
    public let epsilon: Float
    public let statistics: BatchNormStatistics
    public let inference: BatchNormInference
    public let weight: Parameter, bias: Parameter
    public let runningMean: Parameter, runningVar: Parameter
    /// Caffe's s: the total weight of the accumulated batches (0 before the first).
    public var statisticsWeight: Float = 0
    /// Whether a ReLU follows, fused into this layer.
    public let appliesReLU: Bool
    /// Set by a residual block that turns this layer's output in place into relu(output + s):
    /// backward then takes dy as the gradient of that ReLU's output and masks it where the
    /// output is 0, as for a fused ReLU, so the block needs no separate pass for it.
    var outputFeedsReLUInPlace = false

    /// Per channel: the statistics that normalised the last forward, and 1/√(σ²+ε).
    private let mean: Tensor, variance: Tensor, inverseStd: Tensor
    /// The input's plane moments: recorded by the convolution before this layer as it writes
    /// them (`reads(outputOf:)`), or by this layer when its input came otherwise.
    let inputMoments: PlaneMoments
    /// dx left for the convolution before this layer to form as it reads it (`reads(outputOf:)`),
    /// with each channel's coefficients of dx = scale·mask(dy) + slope·x + intercept.
    let deferredGradient = Deferred<NormalizeGradientPlanes>()
    private var gradientHasReader = false
    /// The output left for the convolution after this layer to map from x as it reads it, when
    /// it can (`Conv2d.reads(outputOf:)`, `defersOutput`).
    let deferredOutput = Deferred<NormalizedInput>()
    weak var outputReader: Conv2d?
    /// Per channel: the map y = a·x + b of the last forward (before a fused ReLU).
    private let outputScale: Tensor, outputShift: Tensor
    private let gradientScale: Tensor, gradientSlope: Tensor, gradientIntercept: Tensor
    private var usedBatchStatistics = true
    private var pendingCount = 0
    private var input: Tensor?
    let output: Tensor
    /// Where backward writes dx; a model may point several layers at one shared tensor (see
    /// `ResNet`'s gradient buffers).
    var gradInput: Tensor

    public init(channels: Int, epsilon: Float, statistics: BatchNormStatistics,
                inference: BatchNormInference, appliesReLU: Bool = false) throws {
        self.channels = channels
        self.appliesReLU = appliesReLU
        self.epsilon = epsilon
        self.statistics = statistics
        self.inference = inference
        weight = try Parameter(name: "weight", shape: Shape(channels))
        bias = try Parameter(name: "bias", shape: Shape(channels))
        runningMean = try Parameter(name: "running_mean", shape: Shape(channels), trainable: false)
        runningVar = try Parameter(name: "running_var", shape: Shape(channels), trainable: false)
        weight.value.fill(1)
        runningVar.value.fill(1)
        mean = try Tensor(Shape(channels))
        variance = try Tensor(Shape(channels))
        inverseStd = try Tensor(Shape(channels))
        inputMoments = try PlaneMoments()
        outputScale = try Tensor(Shape(channels))
        outputShift = try Tensor(Shape(channels))
        gradientScale = try Tensor(Shape(channels))
        gradientSlope = try Tensor(Shape(channels))
        gradientIntercept = try Tensor(Shape(channels))
        inputMoments.neededInInference = inference == .batch
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public var parameters: [Parameter] { [weight, bias, runningMean, runningVar] }

    /// Has `convolution` record the moments of its output, which this layer takes as input,
    /// while it writes it, and form this layer's dx, which is its dy, as it reads it: a pass over
    /// memory fewer in forward, and a write and a read of an activation fewer in backward.
    func reads(outputOf convolution: Conv2d) {
        convolution.outputMoments = inputMoments
        convolution.outputGradient = deferredGradient
        gradientHasReader = true
    }

    /// Whether forward leaves its output to the convolution reading it: it can map only when
    /// every read of its x goes through a padded copy (`Conv2d.mapsInputAsItReads`).
    var defersOutput: Bool { outputReader?.mapsInputAsItReads ?? false }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        try forward(x, mode: mode, addingThenReLU: nil)
    }

    /// With `residual`, outputs relu(y + residual) instead (a residual block's sum and ReLU
    /// formed in the same pass as y: two passes over memory fewer than a separate sum).
    func forward(_ x: Tensor, mode: Mode, addingThenReLU residual: Tensor?) throws -> Tensor {
        if let residual, residual.shape != x.shape {
            throw SuperConvError.shape("BatchNorm2d: residual \(residual.shape) does not match input \(x.shape)")
        }
        try output.resize(x.shape)
        input = x
        let useBatch = mode == .training || inference == .batch
        usedBatchStatistics = useBatch
        pendingCount = mode == .training ? x.shape.n * x.shape.h * x.shape.w : 0
        let recorded = inputMoments.take(for: x)
        if useBatch && !recorded { try inputMoments.prepare(for: x.shape) }
        let defers = residual == nil && defersOutput
        parallelFor(channels, Normalize(
            n: x.shape.n, channels: channels, plane: x.shape.h * x.shape.w, epsilon: epsilon,
            useBatchStatistics: useBatch, moments: inputMoments, recordsMoments: !recorded,
            relu: appliesReLU || residual != nil, x: x.data,
            residual: residual.map { UnsafePointer($0.data) }, y: defers ? nil : output.data,
            gamma: weight.value.data, beta: bias.value.data,
            runningMean: runningMean.value.data, runningVar: runningVar.value.data,
            mean: mean.data, variance: variance.data, inverseStd: inverseStd.data,
            scale: outputScale.data, shift: outputShift.data))
        if defers {
            let affine = ChannelAffine(scale: outputScale.data, shift: outputShift.data, relu: appliesReLU)
            deferredOutput.publish(NormalizedInput(x: x.data, affine: affine), as: output)
        }
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let x = input else { throw SuperConvError.state("BatchNorm2d.backward called before forward") }
        try gradInput.resize(dy.shape)
        let planes = NormalizeGradientPlanes(
            channels: channels, plane: dy.shape.h * dy.shape.w, dy: dy.data, x: x.data,
            relu: outputFeedsReLUInPlace ? .storedOutput(output.data) : appliesReLU ? .recomputed : .none,
            gamma: weight.value.data, mean: mean.data, inverseStd: inverseStd.data,
            outputScale: outputScale.data, outputShift: outputShift.data,
            scale: gradientScale.data, slope: gradientSlope.data, intercept: gradientIntercept.data)
        let defers = gradientHasReader
        parallelFor(channels, NormalizeGradient(
            n: dy.shape.n, useBatchStatistics: usedBatchStatistics, planes: planes, writesGradient: !defers,
            dx: gradInput.data, dGamma: weight.gradient!.data, dBeta: bias.gradient!.data))
        if defers { deferredGradient.publish(planes, as: gradInput) }
        return gradInput
    }

    /// Whether the last training forward's batch statistics can be folded in: activations that
    /// overflow float leave a finite loss (the layer outputs β where σ is infinite) but would
    /// make the running statistics infinite for good.
    var batchStatisticsAreFinite: Bool {
        guard pendingCount > 0 else { return true }
        let m = Float(pendingCount), correction = m > 1 ? m / (m - 1) : 1
        for c in 0..<channels where !mean.data[c].isFinite || !(correction * variance.data[c]).isFinite { return false }
        return true
    }

    /// Folds the last training forward's batch statistics into the running statistics.
    public func commitStatistics() {
        guard pendingCount > 0 else { return }
        let m = Float(pendingCount)
        // Unbiased variance, as both Caffe and PyTorch accumulate; m = 1 has no spread to correct.
        let correction = m > 1 ? m / (m - 1) : 1
        let rMean = runningMean.value.data, rVar = runningVar.value.data
        switch statistics {
        case .caffe(let maf):
            let previous = statisticsWeight
            let updated = maf * previous + 1
            for c in 0..<channels {
                rMean[c] = (maf * previous * rMean[c] + mean.data[c]) / updated
                rVar[c] = (maf * previous * rVar[c] + correction * variance.data[c]) / updated
            }
            statisticsWeight = updated
        case .pytorch(let momentum):
            for c in 0..<channels {
                rMean[c] = (1 - momentum) * rMean[c] + momentum * mean.data[c]
                rVar[c] = (1 - momentum) * rVar[c] + momentum * correction * variance.data[c]
            }
            statisticsWeight += 1
        }
        pendingCount = 0
    }
}

/// Forward for a range of channels: statistics (batch or running) and the map y = a·x + b, then
/// y, relu(y) or relu(y + residual) unless the output is deferred (no `y`).
private struct Normalize: ParallelBody {
    let n: Int, channels: Int, plane: Int
    let epsilon: Float
    let useBatchStatistics: Bool
    let moments: PlaneMoments, recordsMoments: Bool
    let relu: Bool
    let x: UnsafePointer<Float>, residual: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>?
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    let runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>
    let mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>
    let scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ range: Range<Int>) {
        for c in range {
            if useBatchStatistics {
                if recordsMoments {
                    for i in 0..<n { moments.record(x + (i * channels + c) * plane, count: plane, at: i * channels + c) }
                }
                let (mu, sigma2) = moments.statistics(channel: c, channels: channels, images: n, planeSize: plane)
                mean[c] = Float(mu)
                variance[c] = Float(sigma2)
            } else {
                mean[c] = runningMean[c]
                variance[c] = runningVar[c]
            }
            inverseStd[c] = 1 / (variance[c] + epsilon).squareRoot()
            // y = γ(x − μ)/σ = a·x + b with a = γ/σ, b = β − a·μ; kept for the convolution that
            // maps a deferred output and for backward's recomputed ReLU mask.
            let a = gamma[c] * inverseStd[c], b = beta[c] - a * mean[c]
            (scale[c], shift[c]) = (a, b)
            guard let y else { continue }
            let aLanes = Lanes(repeating: a), bLanes = Lanes(repeating: b)
            let floor: Float = relu ? 0 : -.infinity
            for i in 0..<n {
                let offset = (i * channels + c) * plane
                let src = x + offset, dst = y + offset, add = residual.map { $0 + offset }
                var p = 0
                while p + 8 <= plane {
                    var v = load(src, p) * aLanes + bLanes
                    if let add { v += load(add, p) }
                    store(relu ? v.replacing(with: 0, where: v .< 0) : v, dst, p)
                    p += 8
                }
                while p < plane {
                    let v = src[p] * a + b
                    dst[p] = max(floor, add.map { v + $0[p] } ?? v)
                    p += 1
                }
            }
        }
    }
}


/// The ReLU whose backward the gradient folds in.
enum FollowingReLU {
    case none
    /// Fused into this layer: the mask is recomputed from x with the forward's map.
    case recomputed
    /// Applied in place to the layer's output (after a residual sum): the mask is that output.
    case storedOutput(UnsafePointer<Float>)
}

/// The input gradient of a batch norm, plane by plane, once its first pass has left each
/// channel's coefficients (see the derivation on `BatchNorm2d`):
///   dx = scale·mask(dy) + slope·x + intercept,
/// with x̂ = (x − μ)σ⁻¹ folded into slope and intercept. The batch norm's second pass writes it; a
/// convolution reading it takes it image by image instead (`Deferred`).
struct NormalizeGradientPlanes {
    let channels: Int, plane: Int
    let dy: UnsafePointer<Float>, x: UnsafePointer<Float>
    let relu: FollowingReLU
    let gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>
    /// The forward's map y = a·x + b per channel, a in `outputScale`, b in `outputShift`.
    let outputScale: UnsafePointer<Float>, outputShift: UnsafePointer<Float>
    let scale: UnsafeMutablePointer<Float>, slope: UnsafeMutablePointer<Float>, intercept: UnsafeMutablePointer<Float>

    /// Where channel c's ReLU let the gradient through, for the elements from `elementOffset` on.
    func mask(channel c: Int, at elementOffset: Int) -> ReLUMask {
        switch relu {
        case .none: return .none
        case .recomputed: return .recomputed(scale: outputScale[c], shift: outputShift[c])
        case .storedOutput(let output): return .stored(output + elementOffset)
        }
    }

    /// dx of image i, channel c, into `d`.
    func write(image i: Int, channel c: Int, into d: UnsafeMutablePointer<Float>) {
        let offset = (i * channels + c) * plane
        let g = dy + offset, src = x + offset, planeMask = mask(channel: c, at: offset)
        let scaleLanes = Lanes(repeating: scale[c]), slopeLanes = Lanes(repeating: slope[c])
        let interceptLanes = Lanes(repeating: intercept[c])
        var p = 0
        while p + 8 <= plane {
            let xv = load(src, p)
            let gv = planeMask.apply(load(g, p), at: p, input: xv)
            store(scaleLanes * gv + slopeLanes * xv + interceptLanes, d, p)
            p += 8
        }
        while p < plane {
            d[p] = scale[c] * planeMask.apply(g[p], at: p, input: src[p]) + slope[c] * src[p] + intercept[c]
            p += 1
        }
    }

    /// dx of image i, all channels, into `d` ([C, plane]).
    func write(image i: Int, into d: UnsafeMutablePointer<Float>) {
        for c in 0..<channels { write(image: i, channel: c, into: d + c * plane) }
    }
}

/// A batch norm's output left to the convolution reading it (`Deferred`): y = affine(x) channel
/// by channel, x the batch norm's input.
struct NormalizedInput {
    let x: UnsafePointer<Float>
    let affine: ChannelAffine
}

/// Backward for a range of channels (see the derivation on `BatchNorm2d`): the sums with x̂ =
/// (x − μ)/σ recomputed and, after a ReLU, dy masked where it was blocked; then the channel's
/// coefficients, and dx itself unless a convolution takes it (`writesGradient`).
private struct NormalizeGradient: ParallelBody {
    let n: Int
    let useBatchStatistics: Bool
    let planes: NormalizeGradientPlanes
    let writesGradient: Bool
    let dx: UnsafeMutablePointer<Float>
    let dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ range: Range<Int>) {
        let channels = planes.channels, plane = planes.plane
        let m = Float(n * plane)
        for c in range {
            let mu = planes.mean[c], inv = planes.inverseStd[c]
            // Σdy and Σdy·(x − μ), then Σdy·x̂ = σ⁻¹·Σdy·(x − μ).
            var sumDy = 0.0, sumDyCentered = 0.0
            for i in 0..<n {
                let offset = (i * channels + c) * plane
                let (s, d) = sumAndCenteredDot(planes.dy + offset, planes.x + offset, count: plane, center: mu,
                                               mask: planes.mask(channel: c, at: offset))
                sumDy += s
                sumDyCentered += d
            }
            let sumDyXhat = sumDyCentered * Double(inv)
            dGamma[c] += Float(sumDyXhat)
            dBeta[c] += Float(sumDy)
            let scale = planes.gamma[c] * inv
            // mean(g) and mean(g·x̂) with g = γ·dy; zero when the statistics were constants.
            let meanDy = useBatchStatistics ? Float(sumDy) / m : 0
            let meanDyXhat = useBatchStatistics ? Float(sumDyXhat) / m : 0
            // dx = scale·(dy − mean(dy) − x̂·mean(dy·x̂)) = scale·dy + slope·x + intercept.
            let slope = -scale * meanDyXhat * inv
            planes.scale[c] = scale
            planes.slope[c] = slope
            planes.intercept[c] = -scale * meanDy - slope * mu
            if writesGradient {
                for i in 0..<n { planes.write(image: i, channel: c, into: dx + (i * channels + c) * plane) }
            }
        }
    }
}
