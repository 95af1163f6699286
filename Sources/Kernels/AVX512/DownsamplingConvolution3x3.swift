import SuperConvKernelsPortable

// Direct 3x3 convolution with stride 2 (padding 1) for CPUs with AVX-512: the first convolution
// of a ResNet's downsampling blocks, forward only (its gradients take the GEMM path).
//
// Output (r, c) of an H x W input reads padded rows 2r + kh and padded columns 2c + kw, so a
// vector of output pixels needs every other input pixel: one 32-float load at 2c gives the
// kw = 0 taps (its even lanes) and the kw = 1 taps (its odd lanes), one at 2c + 2 the kw = 2 taps.
// Blocks as in the stride-1 kernel: 8 output channels by two vectors, each vector 16 output pixels
// of a row (OW > 8) or two rows of up to 8 stacked (OW <= 8). Each output is its bias plus
// fused multiply-adds over input channel, kernel row and kernel column in that order.
//
// Shapes (one image): xp [Ci, H + 2, S] as `writePaddedImage` lays it out, weights packed as
// wt [Co/8][Ci][9][8], y [Co, OH, OW] with OH = (H − 1)/2 + 1 and OW likewise:
//   y[o, r, c] = bias[o] + Σ_ci Σ_kh,kw  w[o, ci, kh, kw] · xp[ci, 2r + kh, 2c + kw]

/// The stride-2 forward kernel for CPUs with AVX-512, for outputs of up to 16 pixels a row.
public enum AVX512DownsamplingKernels: DirectForwardKernels {
    public static var outputChannelBlock: Int { ChannelBlock.channels }

    /// Whether the kernel takes an input of `width` pixels a row.
    public static func takes(width: Int) -> Bool { (width - 1) / 2 + 1 <= 16 }

    public static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                                channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writePaddedImage(x, into: padded, channels: channels, height: height, width: width, affine: affine)
    }

    public static func convolve(padded xp: UnsafePointer<Float>, packedWeights wt: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, cacheBytes: Int,
                                inChannels: Int, outChannels: Int, height h: Int, width w: Int) {
        let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
        if ow > 8 {
            run(OneRowPerVector.self, xp: xp, wt: wt, bias: bias, y: y, inChannels: inChannels,
                outChannels: outChannels, wp: paddedRowStride(width: w), planeRows: h + 2, oh: oh, ow: ow)
        } else {
            run(TwoRowsPerVector.self, xp: xp, wt: wt, bias: bias, y: y, inChannels: inChannels,
                outChannels: outChannels, wp: paddedRowStride(width: w), planeRows: h + 2, oh: oh, ow: ow)
        }
    }
}

/// How an output block's two vectors map to rows: the three taps of a kernel row for vector k,
/// given the padded row that output row `row` reads first, and where vector k's pixels go.
private protocol Rows {
    static var rowStep: Int { get }
    static func taps(_ p: UnsafePointer<Float>, wp: Int, vector k: Int) -> (Vector, Vector, Vector)
    static func store(_ v: Vector, into plane: UnsafeMutablePointer<Float>, row: Int, vector k: Int, oh: Int, ow: Int)
}

@inline(__always)
private func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, lanes: Int) {
    if lanes == 16 {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    } else {
        for i in 0..<lanes { p[i] = v[i] }
    }
}

/// 8 < OW <= 16: vector k is output row row + k.
private enum OneRowPerVector: Rows {
    static var rowStep: Int { 2 }
    @inline(__always)
    static func taps(_ p: UnsafePointer<Float>, wp: Int, vector k: Int) -> (Vector, Vector, Vector) {
        let row = p + 2 * k * wp
        let a = UnsafeRawPointer(row).loadUnaligned(as: SIMD32<Float>.self)
        let b = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD32<Float>.self)
        return (a.evenHalf, a.oddHalf, b.evenHalf)
    }
    @inline(__always)
    static func store(_ v: Vector, into plane: UnsafeMutablePointer<Float>, row: Int, vector k: Int, oh: Int, ow: Int) {
        guard row + k < oh else { return }
        SuperConvKernelsAVX512.store(v, plane + (row + k) * ow, lanes: ow)
    }
}

/// OW <= 8: vector k is output rows row + 2k and row + 2k + 1, stacked.
private enum TwoRowsPerVector: Rows {
    static var rowStep: Int { 4 }
    @inline(__always)
    static func taps(_ p: UnsafePointer<Float>, wp: Int, vector k: Int) -> (Vector, Vector, Vector) {
        let top = p + 4 * k * wp, bottom = top + 2 * wp
        let a0 = UnsafeRawPointer(top).loadUnaligned(as: Vector.self), b0 = UnsafeRawPointer(top + 2).loadUnaligned(as: Vector.self)
        let a1 = UnsafeRawPointer(bottom).loadUnaligned(as: Vector.self)
        let b1 = UnsafeRawPointer(bottom + 2).loadUnaligned(as: Vector.self)
        return (Vector(lowHalf: a0.evenHalf, highHalf: a1.evenHalf), Vector(lowHalf: a0.oddHalf, highHalf: a1.oddHalf),
                Vector(lowHalf: b0.evenHalf, highHalf: b1.evenHalf))
    }
    @inline(__always)
    static func store(_ v: Vector, into plane: UnsafeMutablePointer<Float>, row: Int, vector k: Int, oh: Int, ow: Int) {
        let top = row + 2 * k
        if ow == 8 && top + 1 < oh {
            SuperConvKernelsAVX512.store(v, plane + top * 8, lanes: 16)
        } else {
            if top < oh { for i in 0..<ow { plane[top * ow + i] = v[i] } }
            if top + 1 < oh { for i in 0..<ow { plane[(top + 1) * ow + i] = v[8 + i] } }
        }
    }
}

@inline(__always)
private func run<R: Rows>(_: R.Type, xp: UnsafePointer<Float>, wt: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int,
                          wp: Int, planeRows: Int, oh: Int, ow: Int) {
    let plane = planeRows * wp, outPlane = oh * ow
    for ob in 0..<(outChannels / 8) {
        let weights = wt + ob * inChannels * 72
        let start = ChannelBlock(bias: bias.map { $0 + 8 * ob })
        var row = 0
        while row < oh {
            var block = start
            let origin = xp + 2 * row * wp
            for ci in 0..<inChannels {
                let base = origin + ci * plane
                let q0 = weights + ci * 72
                for kh in 0..<3 {
                    let r = base + kh * wp
                    let (t00, t01, t02) = R.taps(r, wp: wp, vector: 0), (t10, t11, t12) = R.taps(r, wp: wp, vector: 1)
                    let q = q0 + kh * 24
                    block.add(q, t00, t10)
                    block.add(q + 8, t01, t11)
                    block.add(q + 16, t02, t12)
                }
            }
            let out = y + 8 * ob * outPlane
            block.store { c, u, v in
                R.store(u, into: out + c * outPlane, row: row, vector: 0, oh: oh, ow: ow)
                R.store(v, into: out + c * outPlane, row: row, vector: 1, oh: oh, ow: ow)
            }
            row += R.rowStep
        }
    }
}
