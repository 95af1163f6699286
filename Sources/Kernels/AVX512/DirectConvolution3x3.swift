import SuperConvKernelsPortable

// Direct 3x3, stride-1 convolution for CPUs with AVX-512 (F, BW, VL, DQ). This module is compiled
// for them; SuperConvCore calls it only when the CPU has them (`InstructionSet`).
//
// The arithmetic is the AVX2 kernel's: each output is its bias plus the same fused multiply-adds
// in the same order (input channel, then kernel row, then kernel column), so both give the same
// bits. What changes is how much of it runs at once: 16 lanes of pixels per vector and 8 output
// channels per block, 16 accumulators of the 32 registers, so that each input vector loaded
// from the padded image feeds 8 channels and each broadcast weight two vectors. Planes of 8
// pixels or fewer a row (the last stage of a CIFAR ResNet) take 8-lane vectors, two rows at once.
//
// Shapes (one image): xp [Ci, H + 2, S] as `writePaddedImage` lays it out, weights packed as
// wt [Co/8][Ci][9][8] (eight output channels side by side per tap), y [Co, H, W]:
//   y[o, r, c] = bias[o] + Σ_ci Σ_kh,kw  w[o, ci, kh, kw] · xp[ci, r + kh, c + kw]


/// The direct kernels for CPUs with AVX-512.
public enum AVX512Kernels: DirectKernels {
    public static var outputChannelBlock: Int { 8 }

    public static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                                channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writePaddedImage(x, into: padded, channels: channels, height: height, width: width, affine: affine)
    }

    public static func transposedChannels(_ channels: Int) -> Int {
        SuperConvKernelsPortable.transposedChannels(channels, lanes: 16)
    }

    public static func transposedImageSize(channels: Int, height: Int, width: Int) -> Int {
        SuperConvKernelsPortable.transposedImageSize(channels: channels, height: height, width: width, lanes: 16)
    }

    public static func padImageTransposed(_ x: UnsafePointer<Float>, into xt: UnsafeMutablePointer<Float>,
                                          channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writeTransposedImage(x, into: xt, channels: channels, height: height, width: width, lanes: 16, affine: affine)
    }
}


extension AVX512Kernels {
    /// Convolves one zero-padded image into y. `outChannels` must be a multiple of 8.
    public static func convolve(padded xp: UnsafePointer<Float>, packedWeights wt: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                                inChannels: Int, outChannels: Int, height h: Int, width w: Int) {
        if w > 8 {
            run(SIMD16<Float>.self, padded: xp, packedWeights: wt, bias: bias, output: y,
                     inChannels: inChannels, outChannels: outChannels, height: h, width: w)
        } else {
            run(SIMD8<Float>.self, padded: xp, packedWeights: wt, bias: bias, output: y,
                     inChannels: inChannels, outChannels: outChannels, height: h, width: w)
        }
    }
}

@inline(__always)
private func load<V: SIMD>(_ p: UnsafePointer<Float>, as: V.Type) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

@inline(__always)
private func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>, lanes: Int) where V.Scalar == Float {
    if lanes == V.scalarCount {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    } else {
        for i in 0..<lanes { p[i] = v[i] }
    }
}

/// The kernel with vectors of `V`: each step of the inner loop loads two input vectors and eight
/// weights and does sixteen fused multiply-adds (8 channels x 2 vectors). For W > lanes the two
/// vectors are consecutive runs of a row, else the same run of two rows.
@inline(__always)
private func run<V: SIMD>(_: V.Type, padded xp: UnsafePointer<Float>, packedWeights wt: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                               inChannels: Int, outChannels: Int, height h: Int, width w: Int)
where V.Scalar == Float {
    let lanes = V.scalarCount
    let wp = paddedRowStride(width: w), plane = (h + 2) * wp, outPlane = h * w
    let wide = w > lanes
    let secondInput = wide ? lanes : wp, secondOutput = wide ? lanes : w
    let rowStep = wide ? 1 : 2, columnStep = wide ? 2 * lanes : lanes
    for ob in 0..<(outChannels / 8) {
        let weights = wt + ob * inChannels * 72
        var b = (V(), V(), V(), V(), V(), V(), V(), V())
        if let bias {
            let o = bias + 8 * ob
            b = (V(repeating: o[0]), V(repeating: o[1]), V(repeating: o[2]), V(repeating: o[3]),
                 V(repeating: o[4]), V(repeating: o[5]), V(repeating: o[6]), V(repeating: o[7]))
        }
        var row = 0
        while row < h {
            var column = 0
            while column < w {
                var a00 = b.0, a01 = b.0, a10 = b.1, a11 = b.1, a20 = b.2, a21 = b.2, a30 = b.3, a31 = b.3
                var a40 = b.4, a41 = b.4, a50 = b.5, a51 = b.5, a60 = b.6, a61 = b.6, a70 = b.7, a71 = b.7
                let origin = xp + row * wp + column
                for ci in 0..<inChannels {
                    let base = origin + ci * plane
                    let q0 = weights + ci * 72
                    for kh in 0..<3 {
                        let r = base + kh * wp
                        for kw in 0..<3 {
                            let v0 = load(r + kw, as: V.self), v1 = load(r + kw + secondInput, as: V.self)
                            let q = q0 + (kh * 3 + kw) * 8
                            var k = V(repeating: q[0]); a00.addProduct(k, v0); a01.addProduct(k, v1)
                            k = V(repeating: q[1]); a10.addProduct(k, v0); a11.addProduct(k, v1)
                            k = V(repeating: q[2]); a20.addProduct(k, v0); a21.addProduct(k, v1)
                            k = V(repeating: q[3]); a30.addProduct(k, v0); a31.addProduct(k, v1)
                            k = V(repeating: q[4]); a40.addProduct(k, v0); a41.addProduct(k, v1)
                            k = V(repeating: q[5]); a50.addProduct(k, v0); a51.addProduct(k, v1)
                            k = V(repeating: q[6]); a60.addProduct(k, v0); a61.addProduct(k, v1)
                            k = V(repeating: q[7]); a70.addProduct(k, v0); a71.addProduct(k, v1)
                        }
                    }
                }
                // Lanes to keep: a partial run at the row's end, a missing second row at the bottom.
                let lanes0 = min(lanes, w - column)
                let lanes1 = wide ? max(0, min(lanes, w - column - lanes)) : (row + 1 < h ? lanes0 : 0)
                let out = y + 8 * ob * outPlane + row * w + column
                store(a00, out, lanes: lanes0); store(a01, out + secondOutput, lanes: lanes1)
                store(a10, out + outPlane, lanes: lanes0); store(a11, out + outPlane + secondOutput, lanes: lanes1)
                store(a20, out + 2 * outPlane, lanes: lanes0); store(a21, out + 2 * outPlane + secondOutput, lanes: lanes1)
                store(a30, out + 3 * outPlane, lanes: lanes0); store(a31, out + 3 * outPlane + secondOutput, lanes: lanes1)
                store(a40, out + 4 * outPlane, lanes: lanes0); store(a41, out + 4 * outPlane + secondOutput, lanes: lanes1)
                store(a50, out + 5 * outPlane, lanes: lanes0); store(a51, out + 5 * outPlane + secondOutput, lanes: lanes1)
                store(a60, out + 6 * outPlane, lanes: lanes0); store(a61, out + 6 * outPlane + secondOutput, lanes: lanes1)
                store(a70, out + 7 * outPlane, lanes: lanes0); store(a71, out + 7 * outPlane + secondOutput, lanes: lanes1)
                column += columnStep
            }
            row += rowStep
        }
    }
}
