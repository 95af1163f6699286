/// A per-channel affine map with an optional ReLU, y = max(floor, scale[c]·x + shift[c]): a batch
/// norm in inference form (and the ReLU after it) applied by a convolution as it copies its
/// input image into a padded buffer, so that the batch norm's output is never written to memory.
public struct ChannelAffine {
    public let scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
    /// 0 for a ReLU, −∞ without one.
    public let floor: Float

    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool) {
        self.scale = scale
        self.shift = shift
        floor = relu ? 0 : -.infinity
    }

    @inline(__always)
    func callAsFunction(_ x: Float, channel c: Int) -> Float {
        max(floor, scale[c] * x + shift[c])
    }

    @inline(__always)
    func callAsFunction(_ x: SIMD8<Float>, channel c: Int) -> SIMD8<Float> {
        let v = x * SIMD8(repeating: scale[c]) + SIMD8(repeating: shift[c])
        return v.replacing(with: floor, where: v .< floor)
    }

    /// `count` values of channel c from `x` to `y`.
    @inline(__always)
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, channel c: Int) {
        var p = 0
        while p + 8 <= count {
            UnsafeMutableRawPointer(y + p).storeBytes(of: self(load8(x + p), channel: c), as: SIMD8<Float>.self)
            p += 8
        }
        while p < count {
            y[p] = self(x[p], channel: c)
            p += 1
        }
    }
}
