import SuperConvKernelsPortable

// Direct 3x3, stride-1 convolution for CPUs with AVX2 and FMA. This module is compiled for
// Haswell-class CPUs; SuperConvCore calls it only when the CPU has both (`InstructionSet`), and
// keeps the portable im2col + GEMM path as the reference and the fallback.
//
// Why direct: the CIFAR ResNets have 16 to 64 channels. Lowered to GEMM, every element of the
// column matrix serves only O (16..64) multiply-adds, so writing, packing and reading that
// matrix costs about as much as the arithmetic. Here each input vector loaded from a zero-padded
// copy of the image feeds 4 output channels at once, from registers.
//
// Shapes (one image): input x [Ci, H, W] held zero-padded as xp [Ci, H+2, S] with S =
// `paddedRowStride(W)` = W + 1 (x[c, r, q] at xp[c, r + 1, q + 1], zeros around: rows 0 and
// H + 1, and column 0, which is also the right border of the row before; plus slack for the
// over-reads of the last block; lanes that read past a row's end belong to outputs that are
// not stored, or meet zero gradients in the weight gradient), weights packed as
// wt [Co/4][Ci][9][4] (four output channels side by side per tap), output y [Co, H, W]:
//   y[o, r, c] = bias[o] + Σ_ci Σ_kh,kw  w[o, ci, kh, kw] · xp[ci, r + kh, c + kw]

@inline(__always)
private func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, lanes: Int) {
    if lanes == 8 {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    } else {
        for i in 0..<lanes { p[i] = v[i] }
    }
}

/// The direct kernels for CPUs with AVX2 and FMA.
public enum AVX2Kernels: DirectKernels {
    public static var outputChannelBlock: Int { ChannelBlock.channels }

    public static var channelLanes: Int { 8 }

    public static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                                channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writePaddedImage(x, into: padded, channels: channels, height: height, width: width, affine: affine)
    }

    public static func padImageTransposed(_ x: UnsafePointer<Float>, into xt: UnsafeMutablePointer<Float>,
                                          channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writeTransposedImage(x, into: xt, channels: channels, height: height, width: width, lanes: channelLanes, affine: affine)
    }
}


extension AVX2Kernels {
    /// Convolves one zero-padded image (see the file comment) into y. `outChannels` must be a
    /// multiple of 4. Each step of the inner loop loads two input vectors and four weights and does
    /// eight fused multiply-adds into eight accumulators (4 channels x 16 pixels): for W > 8 the two
    /// vectors are consecutive 8-pixel runs of a row, for W <= 8 the same run of two rows.
    public static func convolve(padded xp: UnsafePointer<Float>, packedWeights wt: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, cacheBytes: Int,
                                inChannels: Int, outChannels: Int, height h: Int, width w: Int) {
        let wp = paddedRowStride(width: w), plane = (h + 2) * wp, outPlane = h * w
        let wide = w > 8
        // Per block: input offset and output offset of the second vector, and the block grid.
        let secondInput = wide ? 8 : wp, secondOutput = wide ? 8 : w
        let rowStep = wide ? 1 : 2, columnStep = wide ? 16 : 8
        for ob in 0..<(outChannels / 4) {
            let weights = wt + ob * inChannels * 36
            let start = ChannelBlock(bias: bias.map { $0 + 4 * ob })
            var row = 0
            while row < h {
                var column = 0
                while column < w {
                    var block = start
                    let origin = xp + row * wp + column
                    for ci in 0..<inChannels {
                        let base = origin + ci * plane
                        let q0 = weights + ci * 36
                        for kh in 0..<3 {
                            let r = base + kh * wp
                            for kw in 0..<3 {
                                block.add(q0 + (kh * 3 + kw) * 4, load(r, kw), load(r, kw + secondInput))
                            }
                        }
                    }
                    // Lanes to keep: a partial run at the row's end, a missing second row at the bottom.
                    let lanes0 = min(8, w - column)
                    let lanes1 = wide ? max(0, min(8, w - column - 8)) : (row + 1 < h ? lanes0 : 0)
                    let out = y + 4 * ob * outPlane + row * w + column
                    block.store { c, u, v in
                        store(u, out + c * outPlane, lanes: lanes0); store(v, out + c * outPlane + secondOutput, lanes: lanes1)
                    }
                    column += columnStep
                }
                row += rowStep
            }
        }
    }
}

