import SuperConvKernelsPortable

// The weight gradient of a 3x3, stride-1 "same" convolution for CPUs with AVX-512:
//   dw[o, ci, kh, kw] = Σ_image Σ_r,q  dy[o, r, q] · x[ci, r + kh − 1, q + kw − 1]
// with the AVX2 kernel's arithmetic (each sum in the same order, so the same bits) and its
// layout (channels in the lanes: see that kernel), 16 input channels per vector and six output
// channels per pass, so that each input vector loaded feeds 18 accumulators.
//
// Layouts (one image):
//   xt  [positions + slack][Cp]   channels-last, as `writeTransposedImage` with 16 lanes writes it
//   dyp [Co][H + 2][S]            as `padImage` writes it
//   dwt [Co][3][3][Cp]            the result, channels last; the caller transposes it once


@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }

@inline(__always)
private func add16(_ v: Vector, to p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: load16(p) + v, as: Vector.self)
}


extension AVX512Kernels {
    /// `DirectKernels.addWeightGradient`, six output channels per pass; a last block of fewer
    /// broadcasts the first one's gradient again and discards those sums.
    public static func addWeightGradient(transposedInputs xt: UnsafePointer<Float>, paddedGradients dyp: UnsafePointer<Float>,
                                         images: Int, into dwt: UnsafeMutablePointer<Float>,
                                         inChannels: Int, outChannels: Int, height h: Int, width w: Int) {
        let layout = WeightGradientLayout(inChannels: inChannels, outChannels: outChannels, height: h, width: w, lanes: channelLanes)
        let wp = layout.rowStride, plane = layout.plane, cp = layout.channelStride, first = layout.first
        let span = layout.span, inputStride = layout.inputStride, gradientStride = layout.gradientStride
        var o = 0
        while o < outChannels {
            let live = min(6, outChannels - o)
            // Plane offsets of the block's six gradients; missing ones repeat the first.
            let g1 = live > 1 ? plane : 0, g2 = live > 2 ? 2 * plane : 0, g3 = live > 3 ? 3 * plane : 0
            let g4 = live > 4 ? 4 * plane : 0, g5 = live > 5 ? 5 * plane : 0
            for kh in 0..<3 {
                for lane in stride(from: 0, to: cp, by: 16) {
                    var a00 = Vector(), a01 = Vector(), a02 = Vector(), a10 = Vector(), a11 = Vector(), a12 = Vector()
                    var a20 = Vector(), a21 = Vector(), a22 = Vector(), a30 = Vector(), a31 = Vector(), a32 = Vector()
                    var a40 = Vector(), a41 = Vector(), a42 = Vector(), a50 = Vector(), a51 = Vector(), a52 = Vector()
                    for image in 0..<images {
                        let g = dyp + image * gradientStride + o * plane + first
                        // x[·, kh − 1, −1]: the kw = 0 tap of the first pixel.
                        var input = xt + image * inputStride + (first + (kh - 1) * wp - 1) * cp + lane
                        var x0 = load16(input), x1 = load16(input + cp)
                        for p in 0..<span {
                            let x2 = load16(input + 2 * cp)
                            var d = Vector(repeating: g[p])
                            a00.addProduct(d, x0); a01.addProduct(d, x1); a02.addProduct(d, x2)
                            d = Vector(repeating: g[g1 + p])
                            a10.addProduct(d, x0); a11.addProduct(d, x1); a12.addProduct(d, x2)
                            d = Vector(repeating: g[g2 + p])
                            a20.addProduct(d, x0); a21.addProduct(d, x1); a22.addProduct(d, x2)
                            d = Vector(repeating: g[g3 + p])
                            a30.addProduct(d, x0); a31.addProduct(d, x1); a32.addProduct(d, x2)
                            d = Vector(repeating: g[g4 + p])
                            a40.addProduct(d, x0); a41.addProduct(d, x1); a42.addProduct(d, x2)
                            d = Vector(repeating: g[g5 + p])
                            a50.addProduct(d, x0); a51.addProduct(d, x1); a52.addProduct(d, x2)
                            x0 = x1; x1 = x2
                            input += cp
                        }
                    }
                    let out = dwt + (o * 9 + kh * 3) * cp + lane
                    add16(a00, to: out); add16(a01, to: out + cp); add16(a02, to: out + 2 * cp)
                    if live > 1 { add16(a10, to: out + 9 * cp); add16(a11, to: out + 10 * cp); add16(a12, to: out + 11 * cp) }
                    if live > 2 { add16(a20, to: out + 18 * cp); add16(a21, to: out + 19 * cp); add16(a22, to: out + 20 * cp) }
                    if live > 3 { add16(a30, to: out + 27 * cp); add16(a31, to: out + 28 * cp); add16(a32, to: out + 29 * cp) }
                    if live > 4 { add16(a40, to: out + 36 * cp); add16(a41, to: out + 37 * cp); add16(a42, to: out + 38 * cp) }
                    if live > 5 { add16(a50, to: out + 45 * cp); add16(a51, to: out + 46 * cp); add16(a52, to: out + 47 * cp) }
                }
            }
            o += live
        }
    }
}
