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
    public static var outputChannelBlock: Int { 8 }

    /// Whether the kernel takes an input of `width` pixels a row.
    public static func takes(width: Int) -> Bool { (width - 1) / 2 + 1 <= 16 }

    public static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                                channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writePaddedImage(x, into: padded, channels: channels, height: height, width: width, affine: affine)
    }

    public static func convolve(padded xp: UnsafePointer<Float>, packedWeights wt: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
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

private typealias Vector = SIMD16<Float>

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
        var b = (Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector())
        if let bias {
            let o = bias + 8 * ob
            b = (Vector(repeating: o[0]), Vector(repeating: o[1]), Vector(repeating: o[2]), Vector(repeating: o[3]),
                 Vector(repeating: o[4]), Vector(repeating: o[5]), Vector(repeating: o[6]), Vector(repeating: o[7]))
        }
        var row = 0
        while row < oh {
            var a00 = b.0, a01 = b.0, a10 = b.1, a11 = b.1, a20 = b.2, a21 = b.2, a30 = b.3, a31 = b.3
            var a40 = b.4, a41 = b.4, a50 = b.5, a51 = b.5, a60 = b.6, a61 = b.6, a70 = b.7, a71 = b.7
            let origin = xp + 2 * row * wp
            for ci in 0..<inChannels {
                let base = origin + ci * plane
                let q0 = weights + ci * 72
                for kh in 0..<3 {
                    let r = base + kh * wp
                    let (t00, t01, t02) = R.taps(r, wp: wp, vector: 0), (t10, t11, t12) = R.taps(r, wp: wp, vector: 1)
                    @inline(__always) func tap(_ kw: Int, _ v0: Vector, _ v1: Vector) {
                        let q = q0 + (kh * 3 + kw) * 8
                        var k = Vector(repeating: q[0]); a00.addProduct(k, v0); a01.addProduct(k, v1)
                        k = Vector(repeating: q[1]); a10.addProduct(k, v0); a11.addProduct(k, v1)
                        k = Vector(repeating: q[2]); a20.addProduct(k, v0); a21.addProduct(k, v1)
                        k = Vector(repeating: q[3]); a30.addProduct(k, v0); a31.addProduct(k, v1)
                        k = Vector(repeating: q[4]); a40.addProduct(k, v0); a41.addProduct(k, v1)
                        k = Vector(repeating: q[5]); a50.addProduct(k, v0); a51.addProduct(k, v1)
                        k = Vector(repeating: q[6]); a60.addProduct(k, v0); a61.addProduct(k, v1)
                        k = Vector(repeating: q[7]); a70.addProduct(k, v0); a71.addProduct(k, v1)
                    }
                    tap(0, t00, t10); tap(1, t01, t11); tap(2, t02, t12)
                }
            }
            let out = y + 8 * ob * outPlane
            @inline(__always) func store(_ u: Vector, _ v: Vector, channel c: Int) {
                R.store(u, into: out + c * outPlane, row: row, vector: 0, oh: oh, ow: ow)
                R.store(v, into: out + c * outPlane, row: row, vector: 1, oh: oh, ow: ow)
            }
            store(a00, a01, channel: 0); store(a10, a11, channel: 1); store(a20, a21, channel: 2)
            store(a30, a31, channel: 3); store(a40, a41, channel: 4); store(a50, a51, channel: 5)
            store(a60, a61, channel: 6); store(a70, a71, channel: 7)
            row += R.rowStep
        }
    }
}
