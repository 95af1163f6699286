import SuperConvKernelsPortable

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
/// PyTorch's `nn.BatchNorm2d` (Caffe's BatchNorm followed by Scale with bias): its parameters,
/// statistics and passes, which read and write buffers the caller owns (the layer `BatchNorm2d`,
/// or a fused block).
///
/// Per channel c, with m = N·H·W values x_i:
///   μ = Σx_i/m,  σ² = Σ(x_i−μ)²/m (biased, to normalise),  x̂_i = (x_i−μ)/√(σ²+ε),
///   y_i = γ·x̂_i + β = a·x_i + b   with a = γ/√(σ²+ε), b = β − a·μ.
/// Backward with batch statistics (μ and σ depend on every x_i): with g_i = dy_i·γ,
///   dx_i = (1/√(σ²+ε)) · (g_i − mean(g) − x̂_i·mean(g·x̂)),
///   dγ += Σ dy_i·x̂_i,  dβ += Σ dy_i.
/// With fixed (running) statistics μ and σ are constants and dx_i = g_i/√(σ²+ε).
/// x̂ is never stored: backward recomputes it from x, which the layer before keeps.
///
/// A ReLU after the batch norm is folded into both passes (`FollowingReLU`): forward writes
/// relu(y), backward masks dy where y ≤ 0, recomputing y from x rather than reading it back.
///
/// Running statistics change only in `commitStatistics`, which the trainer calls once a step is
/// accepted, so a rejected (non-finite) step leaves them untouched.
public final class Normalization {
    public let channels: Int
    public let epsilon: Float
    public let statistics: BatchNormStatistics
    public let inference: BatchNormInference
    public let weight: Parameter, bias: Parameter
    public let runningMean: Parameter, runningVar: Parameter
    /// Caffe's s: the total weight of the accumulated batches (0 before the first).
    public var statisticsWeight: Float = 0

    /// Per channel: the statistics that normalised the last forward, and 1/√(σ²+ε).
    private let mean: Tensor, variance: Tensor, inverseStd: Tensor
    /// Per channel: the map y = a·x + b of the last forward (before a ReLU).
    private let outputScale: Tensor, outputShift: Tensor
    /// Per channel: the coefficients of the last backward's dx = scale·mask(dy) + slope·x + intercept.
    private let gradientScale: Tensor, gradientSlope: Tensor, gradientIntercept: Tensor
    private var usedBatchStatistics = true
    /// Values per channel of the last training forward, whose statistics are not yet committed.
    private var pendingCount = 0

    public init(channels: Int, epsilon: Float, statistics: BatchNormStatistics, inference: BatchNormInference) throws {
        self.channels = channels
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
        outputScale = try Tensor(Shape(channels))
        outputShift = try Tensor(Shape(channels))
        gradientScale = try Tensor(Shape(channels))
        gradientSlope = try Tensor(Shape(channels))
        gradientIntercept = try Tensor(Shape(channels))
    }

    public var parameters: [Parameter] { [weight, bias, runningMean, runningVar] }

    /// Whether a forward in `mode` normalises with the batch's own statistics (and so needs the
    /// moments of its input's planes).
    func usesBatchStatistics(in mode: Mode) -> Bool { mode == .training || inference == .batch }

    /// The last forward's map y = a·x + b per channel, with the ReLU when `relu`: what a
    /// convolution applies when it reads this batch norm's output from its input.
    func outputMap(relu: Bool) -> ChannelAffine {
        ChannelAffine(scale: outputScale.data, shift: outputShift.data, relu: relu)
    }

    /// Forward over x of `shape`: the statistics (the batch's, from `moments`, or the running
    /// ones) and the map y = a·x + b, then y into `output` unless nil: relu(y) with `relu`,
    /// relu(y + residual) with `residual` (a residual block's sum formed in the same pass).
    /// `recordsMoments`: x's plane moments are not yet in `moments` and this pass records them.
    func forward(_ x: UnsafePointer<Float>, shape: Shape, mode: Mode, moments: PlaneMoments, recordsMoments: Bool,
                 into output: UnsafeMutablePointer<Float>?, adding residual: UnsafePointer<Float>? = nil,
                 relu: Bool) throws {
        let useBatch = usesBatchStatistics(in: mode)
        usedBatchStatistics = useBatch
        pendingCount = mode == .training ? shape.n * shape.h * shape.w : 0
        if useBatch && recordsMoments { try moments.prepare(for: shape) }
        parallelFor(channels, Normalize(
            n: shape.n, channels: channels, plane: shape.h * shape.w, epsilon: epsilon,
            useBatchStatistics: useBatch, moments: moments, recordsMoments: recordsMoments,
            relu: relu || residual != nil, x: x, residual: residual, y: output,
            gamma: weight.value.data, beta: bias.value.data,
            runningMean: runningMean.value.data, runningVar: runningVar.value.data,
            mean: mean.data, variance: variance.data, inverseStd: inverseStd.data,
            scale: outputScale.data, shift: outputShift.data))
    }

    /// Backward of the last forward, x its input and dy of `shape` the gradient of its output
    /// (through `relu`): adds dγ and dβ, and returns dx's coefficients, written into `dx` when
    /// given, else left for a convolution to form as it reads them.
    func backward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, shape: Shape, relu: FollowingReLU,
                  into dx: UnsafeMutablePointer<Float>?) -> NormalizeGradientPlanes {
        let planes = NormalizeGradientPlanes(
            channels: channels, plane: shape.h * shape.w, dy: dy, x: x, relu: relu,
            gamma: weight.value.data, mean: mean.data, inverseStd: inverseStd.data,
            outputScale: outputScale.data, outputShift: outputShift.data,
            scale: gradientScale.data, slope: gradientSlope.data, intercept: gradientIntercept.data)
        parallelFor(channels, NormalizeGradient(n: shape.n, useBatchStatistics: usedBatchStatistics, planes: planes,
                                                dx: dx, dGamma: weight.gradient!.data, dBeta: bias.gradient!.data))
        return planes
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

    /// Folds the last training forward's batch statistics into the running statistics, by the
    /// layer's own rule or by `rule` (precise BN folds with Caffe's rule and maf 1 from s = 0,
    /// which is the equal-weight mean of the batches' statistics).
    public func commitStatistics(by rule: BatchNormStatistics? = nil) {
        guard pendingCount > 0 else { return }
        let m = Float(pendingCount)
        // Unbiased variance, as both Caffe and PyTorch accumulate; m = 1 has no spread to correct.
        let correction = m > 1 ? m / (m - 1) : 1
        let rMean = runningMean.value.data, rVar = runningVar.value.data
        switch rule ?? statistics {
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
/// y, relu(y) or relu(y + residual) unless there is no `y` (a convolution maps x as it reads it).
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
            // Kept for a convolution that maps x as it reads it, and for backward's recomputed
            // ReLU mask.
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
                    let v = src[p] * a + b, u = add.map { v + $0[p] } ?? v
                    dst[p] = u < floor ? floor : u  // as the lanes: NaN stays NaN
                    p += 1
                }
            }
        }
    }
}

/// The ReLU after a batch norm whose backward its backward folds in.
enum FollowingReLU {
    case none
    /// Applied by the forward: the mask is recomputed from x with the forward's map.
    case recomputed
    /// Applied to a stored tensor (a residual block's sum): the mask is that tensor.
    case storedOutput(UnsafePointer<Float>)
}

/// The input gradient of a batch norm, plane by plane, once its first pass has left each
/// channel's coefficients (see the derivation on `BatchNorm2d`):
///   dx = scale·mask(dy) + slope·x + intercept,
/// with x̂ = (x − μ)σ⁻¹ folded into slope and intercept. The batch norm's second pass writes it, or
/// a convolution forms it image by image as it reads it (`ConvolutionOutputGradient.normalizing`).
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


/// Backward for a range of channels (see the derivation on `BatchNorm2d`): the sums with x̂ =
/// (x − μ)/σ recomputed and, after a ReLU, dy masked where it was blocked; then the channel's
/// coefficients, and dx itself where given.
private struct NormalizeGradient: ParallelBody {
    let n: Int
    let useBatchStatistics: Bool
    let planes: NormalizeGradientPlanes
    let dx: UnsafeMutablePointer<Float>?
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
            if let dx {
                for i in 0..<n { planes.write(image: i, channel: c, into: dx + (i * channels + c) * plane) }
            }
        }
    }
}
