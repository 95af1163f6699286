import SuperConvKernelsPortable

// F(2x2, 3x3) for CPUs with AVX-512: the transforms of the portable module's
// `winogradConvolve`, compiled here with 16-lane vectors of tiles, and its multiply step with the
// direct kernel's register block (8 output channels by two vectors of tiles, `ChannelBlock`).

/// The Winograd kernels for CPUs with AVX-512.
public enum AVX512WinogradKernels: WinogradKernels, DirectForwardKernels {
    public typealias Vector = SIMD16<Float>

    public static var outputChannelBlock: Int { 8 }

    public static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                                channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writePaddedImage(x, into: padded, channels: channels, height: height, width: width, affine: affine)
    }

    public static func convolve(padded xp: UnsafePointer<Float>, packedWeights u: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, cacheBytes: Int,
                                inChannels: Int, outChannels: Int, height: Int, width: Int) {
        winogradConvolve(Self.self, padded: xp, transformedWeights: u, bias: bias, output: y, scratch: scratch,
                         inChannels: inChannels, outChannels: outChannels, height: height, width: width,
                         blockBytes: cacheBytes)
    }

    @inline(__always)
    public static func loadDeinterleaved(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>) -> (Vector, Vector) {
        let z = SIMD32<Float>(lowHalf: UnsafeRawPointer(p).loadUnaligned(as: Vector.self),
                              highHalf: UnsafeRawPointer(q).loadUnaligned(as: Vector.self))
        return (z.evenHalf, z.oddHalf)
    }

    @inline(__always)
    public static func storeInterleaved(_ a: Vector, _ b: Vector, _ p: UnsafeMutablePointer<Float>,
                                        _ q: UnsafeMutablePointer<Float>, count: Int) {
        var z = SIMD32<Float>()
        z.evenHalf = a
        z.oddHalf = b
        if count == 32 {
            UnsafeMutableRawPointer(p).storeBytes(of: z.lowHalf, as: Vector.self)
            UnsafeMutableRawPointer(q).storeBytes(of: z.highHalf, as: Vector.self)
        } else {
            for i in 0..<min(count, 16) { p[i] = z[i] }
            for i in 16..<max(count, 16) { q[i - 16] = z[i] }
        }
    }

    @inline(__always)
    public static func multiply(transformedInputs v: UnsafePointer<Float>, transformedWeights u: UnsafePointer<Float>,
                                into m: UnsafeMutablePointer<Float>, tiles: Int, tileStride: Int, inChannels: Int) {
        var t = 0
        while t < tiles {
            var block = ChannelBlock(bias: nil)
            for ci in 0..<inChannels {
                let row = v + ci * tileStride + t
                block.add(u + ci * 8, UnsafeRawPointer(row).loadUnaligned(as: Vector.self),
                          UnsafeRawPointer(row + 16).loadUnaligned(as: Vector.self))
            }
            block.store { c, a, b in
                UnsafeMutableRawPointer(m + c * tileStride + t).storeBytes(of: a, as: Vector.self)
                UnsafeMutableRawPointer(m + c * tileStride + t + 16).storeBytes(of: b, as: Vector.self)
            }
            t += 32
        }
    }
}
