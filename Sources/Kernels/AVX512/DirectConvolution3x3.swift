import SuperConvKernelsPortable

// Direct 3x3, stride-1 convolution for CPUs with AVX-512 (F, BW, VL, DQ). This module is compiled
// for them; SuperConvCore calls it only when the CPU has them (`InstructionSet`).
//
// The arithmetic is the AVX2 kernel's: each output is its bias plus the same fused multiply-adds
// in the same order (input channel, then kernel row, then kernel column), so both give the same
// bits. What changes is how much of it runs at once: 16 lanes of pixels per vector and 8 output
// channels per block, 16 accumulators of the 32 registers, so that each input vector loaded
// from the padded image feeds 8 channels and each broadcast weight two vectors. A vector holds 16
// pixels of a row (W > 16), a row of up to 16 (W <= 16, two rows per block), or two rows of up to
// 8 stacked (W <= 8, the last stage of a CIFAR ResNet; four rows per block).
//
// Shapes (one image): xp [Ci, H + 2, S] as `writePaddedImage` lays it out, weights packed as
// wt [Co/8][Ci][9][8] (eight output channels side by side per tap), y [Co, H, W]:
//   y[o, r, c] = bias[o] + Σ_ci Σ_kh,kw  w[o, ci, kh, kw] · xp[ci, r + kh, c + kw]


/// The direct kernels for CPUs with AVX-512.
public enum AVX512Kernels: DirectKernels {
    public static var outputChannelBlock: Int { ChannelBlock.channels }

    public static var channelLanes: Int { 16 }

    public static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                                channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writePaddedImage(x, into: padded, channels: channels, height: height, width: width, affine: affine)
    }

    public static func padImageTransposed(_ x: UnsafePointer<Float>, into xt: UnsafeMutablePointer<Float>,
                                          channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writeTransposedImage(x, into: xt, channels: channels, height: height, width: width, lanes: channelLanes, affine: affine)
    }
}


extension AVX512Kernels {
    /// Convolves one zero-padded image into y. `outChannels` must be a multiple of 8.
    public static func convolve(padded xp: UnsafePointer<Float>, packedWeights wt: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, cacheBytes: Int,
                                inChannels: Int, outChannels: Int, height h: Int, width w: Int) {
        let image = Image(xp: xp, y: y, inChannels: inChannels, height: h, width: w)
        if w > 16 {
            run(RunsOfARow.self, image, packedWeights: wt, bias: bias, outChannels: outChannels)
        } else if w > 8 {
            run(TwoRows.self, image, packedWeights: wt, bias: bias, outChannels: outChannels)
        } else {
            run(FourRows.self, image, packedWeights: wt, bias: bias, outChannels: outChannels)
        }
    }
}

/// One image's padded input and output, and their geometry.
private struct Image {
    let xp: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
    let inChannels: Int, height: Int, width: Int
    var wp: Int { paddedRowStride(width: width) }
}

/// Which pixels the two vectors of a block hold, for a block whose top-left output is (row,
/// column): how to load an input vector at `offset` from the padded position of that output (plus
/// the tap), and how to store an accumulator.
private protocol Arrangement {
    static func rowStep(_ image: Image) -> Int
    static func columnStep(_ image: Image) -> Int
    static func load(_ image: Image, _ p: UnsafePointer<Float>, vector k: Int) -> Vector
    static func store(_ image: Image, _ v: Vector, row: Int, column: Int, vector k: Int, plane: UnsafeMutablePointer<Float>)
}

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
private func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>, lanes: Int) where V.Scalar == Float {
    if lanes == V.scalarCount {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    } else {
        for i in 0..<max(0, lanes) { p[i] = v[i] }
    }
}

/// W > 16: two consecutive runs of 16 pixels of one row.
private enum RunsOfARow: Arrangement {
    static func rowStep(_ image: Image) -> Int { 1 }
    static func columnStep(_ image: Image) -> Int { 32 }
    @inline(__always)
    static func load(_ image: Image, _ p: UnsafePointer<Float>, vector k: Int) -> Vector { load16(p + 16 * k) }
    @inline(__always)
    static func store(_ image: Image, _ v: Vector, row: Int, column: Int, vector k: Int, plane: UnsafeMutablePointer<Float>) {
        let first = column + 16 * k
        SuperConvKernelsAVX512.store(v, plane + row * image.width + first, lanes: min(16, image.width - first))
    }
}

/// 8 < W <= 16: the same run of two rows.
private enum TwoRows: Arrangement {
    static func rowStep(_ image: Image) -> Int { 2 }
    static func columnStep(_ image: Image) -> Int { 16 }
    @inline(__always)
    static func load(_ image: Image, _ p: UnsafePointer<Float>, vector k: Int) -> Vector { load16(p + image.wp * k) }
    @inline(__always)
    static func store(_ image: Image, _ v: Vector, row: Int, column: Int, vector k: Int, plane: UnsafeMutablePointer<Float>) {
        guard row + k < image.height else { return }
        SuperConvKernelsAVX512.store(v, plane + (row + k) * image.width, lanes: image.width)
    }
}

/// W <= 8: each vector two rows of 8 lanes stacked, the block four rows.
private enum FourRows: Arrangement {
    static func rowStep(_ image: Image) -> Int { 4 }
    static func columnStep(_ image: Image) -> Int { 8 }
    @inline(__always)
    static func load(_ image: Image, _ p: UnsafePointer<Float>, vector k: Int) -> Vector {
        let top = p + 2 * k * image.wp
        return Vector(lowHalf: load8(top), highHalf: load8(top + image.wp))
    }
    @inline(__always)
    static func store(_ image: Image, _ v: Vector, row: Int, column: Int, vector k: Int, plane: UnsafeMutablePointer<Float>) {
        let top = row + 2 * k, w = image.width
        if w == 8 && top + 1 < image.height {
            SuperConvKernelsAVX512.store(v, plane + top * w, lanes: 16)
        } else {
            if top < image.height { SuperConvKernelsAVX512.store(v.lowHalf, plane + top * w, lanes: w) }
            if top + 1 < image.height { SuperConvKernelsAVX512.store(v.highHalf, plane + (top + 1) * w, lanes: w) }
        }
    }
}

/// The kernel: each step of the inner loop loads two input vectors (as `A` arranges them) and
/// eight weights and does sixteen fused multiply-adds (8 channels x 2 vectors).
@inline(__always)
private func run<A: Arrangement>(_: A.Type, _ image: Image, packedWeights wt: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>?, outChannels: Int) {
    let h = image.height, w = image.width, wp = image.wp, plane = (h + 2) * wp, outPlane = h * w
    for ob in 0..<(outChannels / 8) {
        let weights = wt + ob * image.inChannels * 72
        let start = ChannelBlock(bias: bias.map { $0 + 8 * ob })
        var row = 0
        while row < h {
            var column = 0
            while column < w {
                var block = start
                let origin = image.xp + row * wp + column
                for ci in 0..<image.inChannels {
                    let base = origin + ci * plane
                    let q0 = weights + ci * 72
                    for kh in 0..<3 {
                        let r = base + kh * wp
                        for kw in 0..<3 {
                            block.add(q0 + (kh * 3 + kw) * 8, A.load(image, r + kw, vector: 0), A.load(image, r + kw, vector: 1))
                        }
                    }
                }
                let out = image.y + 8 * ob * outPlane
                block.store { c, u, v in
                    A.store(image, u, row: row, column: column, vector: 0, plane: out + c * outPlane)
                    A.store(image, v, row: row, column: column, vector: 1, plane: out + c * outPlane)
                }
                column += A.columnStep(image)
            }
            row += A.rowStep(image)
        }
    }
}
