import Glibc
import SuperConvKernelsPortable

/// The mean and the sum of squared deviations of every [image, channel] plane of an activation,
/// from which batch norm combines its per-channel statistics.
///
/// A fused convolution records them while each image's output is still in cache, so the batch
/// norm that reads that output next skips a pass over it; a batch norm on its own records them
/// itself, with the same code, so both give the same statistics bit for bit.
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

    /// Makes room for the planes of `shape`; grows only when needed, so a steady-state step
    /// allocates nothing.
    func prepare(for shape: Shape) throws {
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
