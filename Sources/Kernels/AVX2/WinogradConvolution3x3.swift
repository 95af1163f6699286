import SuperConvKernelsPortable

// F(2x2, 3x3) for CPUs with AVX2 and FMA: the transforms of the portable module's
// `winogradConvolve`, compiled here with 8-lane vectors of tiles, and its multiply step with the
// direct kernel's register block (4 output channels by two vectors of tiles, `ChannelBlock`).

/// The Winograd kernels for CPUs with AVX2 and FMA.
public enum AVX2WinogradKernels: WinogradKernels, DirectForwardKernels {
    public typealias Vector = SIMD8<Float>

    public static var outputChannelBlock: Int { 4 }

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
        let z = SIMD16<Float>(lowHalf: UnsafeRawPointer(p).loadUnaligned(as: Vector.self),
                              highHalf: UnsafeRawPointer(q).loadUnaligned(as: Vector.self))
        return (z.evenHalf, z.oddHalf)
    }

    @inline(__always)
    public static func storeInterleaved(_ a: Vector, _ b: Vector, _ p: UnsafeMutablePointer<Float>,
                                        _ q: UnsafeMutablePointer<Float>, count: Int) {
        var z = SIMD16<Float>()
        z.evenHalf = a
        z.oddHalf = b
        if count == 16 {
            UnsafeMutableRawPointer(p).storeBytes(of: z.lowHalf, as: Vector.self)
            UnsafeMutableRawPointer(q).storeBytes(of: z.highHalf, as: Vector.self)
        } else {
            for i in 0..<min(count, 8) { p[i] = z[i] }
            for i in 8..<max(count, 8) { q[i - 8] = z[i] }
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
                block.add(u + ci * 4, UnsafeRawPointer(row).loadUnaligned(as: Vector.self),
                          UnsafeRawPointer(row + 8).loadUnaligned(as: Vector.self))
            }
            block.store { c, a, b in
                UnsafeMutableRawPointer(m + c * tileStride + t).storeBytes(of: a, as: Vector.self)
                UnsafeMutableRawPointer(m + c * tileStride + t + 8).storeBytes(of: b, as: Vector.self)
            }
            t += 16
        }
    }
}
