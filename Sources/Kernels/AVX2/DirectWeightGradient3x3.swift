import SuperConvKernelsPortable

// The weight gradient of a 3x3, stride-1 "same" convolution, for CPUs with AVX2 and FMA:
//   dw[o, ci, kh, kw] = Σ_image Σ_r,q  dy[o, r, q] · x[ci, r + kh − 1, q + kw − 1]
// (x zero outside the image), a correlation of the output gradient with the input.
//
// Why channels in the lanes: summed over pixels with pixels in the lanes (as the forward kernel
// lays them out), every sum ends in a horizontal reduction, every step loads three shifted input
// vectors that mostly straddle cache lines, and the kernel ran at about two thirds of the
// forward's speed. Here the input is held channels-last, xt[position][channel], so one vector
// is 8 input channels at one pixel; dy[o, position] is broadcast; and the three taps of a kernel
// row are three consecutive positions, so each step loads one new input vector and reuses the
// two before it. Nine accumulators (3 output channels x 3 taps) hold dw[o, ·, kh, kw] for 8
// input channels and are added to the result once per call, no reduction across lanes.
//
// Layouts (one image; positions P = row · S + column over the padded plane, S =
// `paddedRowStride(W)` = W + 1, x[c, r, q] at P = (r + 1) · S + q + 1, zero at rows 0 and H + 1
// and column 0):
//   xt  [positions + slack][Cp]   Cp = `transposedChannels(Ci)`; lanes past Ci are never
//                                 written: whatever they hold stays in their own lanes of dwt
//   dyp [Co][H + 2][S]            as `padImage` writes it
//   dwt [Co][3][3][Cp]            the result, channels last; the caller transposes it once
// Border positions of dyp are zero, so one flat run over P from the first to the last pixel
// (`span` positions) adds only the true terms.

@inline(__always)
private func add8(_ v: SIMD8<Float>, to p: UnsafeMutablePointer<Float>) {
    store(load(p, 0) + v, p, 0)
}


extension AVX2Kernels {
    /// `DirectKernels.addWeightGradient`, three output channels per pass; a last block of fewer
    /// broadcasts the first one's gradient again and discards those sums.
    public static func addWeightGradient(transposedInputs xt: UnsafePointer<Float>, paddedGradients dyp: UnsafePointer<Float>,
                                         images: Int, into dwt: UnsafeMutablePointer<Float>,
                                         inChannels: Int, outChannels: Int, height h: Int, width w: Int) {
        let layout = WeightGradientLayout(inChannels: inChannels, outChannels: outChannels, height: h, width: w, lanes: channelLanes)
        let wp = layout.rowStride, plane = layout.plane, cp = layout.channelStride, first = layout.first
        let span = layout.span, inputStride = layout.inputStride, gradientStride = layout.gradientStride
        var o = 0
        while o < outChannels {
            let live = min(3, outChannels - o)
            let second = live > 1 ? plane : 0, third = live > 2 ? 2 * plane : 0
            for kh in 0..<3 {
                for lane in stride(from: 0, to: cp, by: 8) {
                    var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
                    var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
                    var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>()
                    for image in 0..<images {
                        let g0 = dyp + image * gradientStride + o * plane + first
                        let g1 = g0 + second, g2 = g0 + third
                        // x[·, kh − 1, −1]: the kw = 0 tap of the first pixel.
                        var input = xt + image * inputStride + (first + (kh - 1) * wp - 1) * cp + lane
                        var x0 = load(input, 0), x1 = load(input, cp)
                        for p in 0..<span {
                            let x2 = load(input, 2 * cp)
                            var d = SIMD8<Float>(repeating: g0[p])
                            a00.addProduct(d, x0); a01.addProduct(d, x1); a02.addProduct(d, x2)
                            d = SIMD8<Float>(repeating: g1[p])
                            a10.addProduct(d, x0); a11.addProduct(d, x1); a12.addProduct(d, x2)
                            d = SIMD8<Float>(repeating: g2[p])
                            a20.addProduct(d, x0); a21.addProduct(d, x1); a22.addProduct(d, x2)
                            x0 = x1; x1 = x2
                            input += cp
                        }
                    }
                    let out = dwt + (o * 9 + kh * 3) * cp + lane
                    add8(a00, to: out); add8(a01, to: out + cp); add8(a02, to: out + 2 * cp)
                    if live > 1 { add8(a10, to: out + 9 * cp); add8(a11, to: out + 10 * cp); add8(a12, to: out + 11 * cp) }
                    if live > 2 { add8(a20, to: out + 18 * cp); add8(a21, to: out + 19 * cp); add8(a22, to: out + 20 * cp) }
                }
            }
            o += live
        }
    }
}

