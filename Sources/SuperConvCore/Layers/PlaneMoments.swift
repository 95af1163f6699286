import Glibc

/// The mean and the sum of squared deviations of every [image, channel] plane of an activation,
/// from which batch norm combines its per-channel statistics.
///
/// A convolution records them while each image's output is still in cache, so the batch norm
/// that reads that output next skips a pass over it (`Conv2d.outputMoments`); a batch norm whose
/// input arrives otherwise records them itself.
///
/// Per plane of L values with K its first value (within a few σ of the plane's mean, so that
/// the shifted sums lose few digits, as the textbook Σx² − (Σx)²/L would on planes whose mean
/// is large against σ):
///   s1 = Σ(x − K),  s2 = Σ(x − K)²,  mean = K + s1/L,  M2 = s2 − s1²/L.
/// Per channel over the N planes (Chan, Golub and LeVeque's combination, in image order, so the
/// result does not depend on which thread recorded which plane):
///   μ = Σ mean_i / N,  σ² = Σ (M2_i + L·(mean_i − μ)²) / (N·L).
final class PlaneMoments {
    private var means: UnsafeMutablePointer<Double>
    private var squaredDeviations: UnsafeMutablePointer<Double>
    private var capacity: Int
    /// The tensor, and its shape, whose planes the last `record` calls described; nil once
    /// `take(for:)` has used them, so that stale moments are never read for a changed tensor.
    private var source: TensorIdentity?
    /// Whether the reader uses batch statistics in inference mode too (`BatchNormInference.batch`);
    /// otherwise a writer records only in training mode.
    var neededInInference = false

    init() throws {
        capacity = 0
        (means, squaredDeviations) = try Self.allocate(1)
    }

    deinit {
        free(means)
        free(squaredDeviations)
    }

    private static func allocate(_ count: Int) throws -> (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) {
        let bytes = count * MemoryLayout<Double>.stride
        guard let a = malloc(bytes) else { throw SuperConvError.outOfMemory("cannot allocate \(count) plane moments") }
        guard let b = malloc(bytes) else {
            free(a)
            throw SuperConvError.outOfMemory("cannot allocate \(count) plane moments")
        }
        return (a.bindMemory(to: Double.self, capacity: count), b.bindMemory(to: Double.self, capacity: count))
    }

    /// For a writer: forgets earlier records and, when the reader needs moments in `mode`, makes
    /// room for the planes of `shape` and returns self to record into (nil otherwise, so that an
    /// inference pass that does not need them neither computes nor stores them).
    func prepareToRecord(_ shape: Shape, in mode: Mode) throws -> PlaneMoments? {
        source = nil
        guard mode == .training || neededInInference else { return nil }
        try prepare(for: shape)
        return self
    }

    /// Makes room for the planes of `shape`, forgetting earlier records; grows only when needed,
    /// so a steady-state step allocates nothing.
    func prepare(for shape: Shape) throws {
        source = nil
        let planes = shape.n * shape.c
        guard planes > capacity else { return }
        let (grownMeans, grownDeviations) = try Self.allocate(planes)
        free(means)
        free(squaredDeviations)
        (means, squaredDeviations, capacity) = (grownMeans, grownDeviations, planes)
    }

    /// Records plane `index` (image · channels + channel) of `count` values at `plane`. Planes
    /// may be recorded from several threads at once, each plane by one.
    func record(_ plane: UnsafePointer<Float>, count: Int, at index: Int) {
        let shift = plane[0]
        let (s1, s2) = shiftedSums(plane, count: count, shift: shift)
        let d = s1 / Double(count)
        means[index] = Double(shift) + d
        squaredDeviations[index] = max(0, s2 - s1 * d)
    }

    /// Says that the planes recorded since `prepare` are all of `tensor`'s, as it is now.
    func finish(describing tensor: Tensor) {
        source = TensorIdentity(tensor)
    }

    /// Whether the last records are of `tensor`, as `finish` left it.
    func describe(_ tensor: Tensor) -> Bool {
        source == TensorIdentity(tensor)
    }

    /// `describe(tensor)`, true at most once per record, since a reader may change the tensor
    /// afterwards.
    func take(for tensor: Tensor) -> Bool {
        defer { source = nil }
        return describe(tensor)
    }

    /// The mean and biased variance of `channel` over the `images` planes of `planeSize` values.
    func statistics(channel: Int, channels: Int, images: Int, planeSize: Int) -> (mean: Double, variance: Double) {
        var sum = 0.0
        for i in 0..<images { sum += means[i * channels + channel] }
        let mean = sum / Double(images)
        var m2 = 0.0
        for i in 0..<images {
            let d = means[i * channels + channel] - mean
            m2 += squaredDeviations[i * channels + channel] + Double(planeSize) * d * d
        }
        return (mean, m2 / Double(images * planeSize))
    }
}
