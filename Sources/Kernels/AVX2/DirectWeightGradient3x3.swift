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

/// Floats per position of a channels-last padded image: the channels rounded up to 8 lanes.
public func transposedChannels(_ channels: Int) -> Int { (channels + 7) / 8 * 8 }

/// Floats of a channels-last padded image, a multiple of 16 so that the images of a group stay
/// 64-byte aligned; one position of slack for the last tap of the last pixel.
public func transposedImageSize(channels: Int, height h: Int, width w: Int) -> Int {
    (((h + 2) * paddedRowStride(width: w) + 1) * transposedChannels(channels) + 15) / 16 * 16
}

/// Writes one image x [C, H, W] channels-last into a padded buffer (see the file comment), mapped
/// by `affine` when given, zeros included, so the buffer needs no clearing beforehand.
public func padImageTransposed(_ x: UnsafePointer<Float>, into xt: UnsafeMutablePointer<Float>,
                               channels: Int, height h: Int, width w: Int, affine: ChannelAffine? = nil) {
    let wp = paddedRowStride(width: w), cp = transposedChannels(channels)
    xt.update(repeating: 0, count: (wp + 1) * cp)  // row 0 and row 1's left border
    let plane = h * w, wholeChannels = channels / 8 * 8, wholePixels = w / 8 * 8
    for r in 0..<h {
        let row = xt + ((r + 1) * wp + 1) * cp
        // Blocks of 8 channels x 8 pixels turned around in registers; scalar copies for the rest.
        for c in stride(from: 0, to: wholeChannels, by: 8) {
            let source = x + c * plane + r * w
            for q in stride(from: 0, to: wholePixels, by: 8) {
                transpose8x8(source + q, stride: plane, into: row + q * cp + c, stride: cp,
                             affine: affine, firstChannel: c)
            }
            for q in wholePixels..<w {
                for lane in 0..<8 { row[q * cp + c + lane] = mapped(source[lane * plane + q], affine, channel: c + lane) }
            }
        }
        for c in wholeChannels..<channels {
            let source = x + c * plane + r * w
            for q in 0..<w { row[q * cp + c] = mapped(source[q], affine, channel: c) }
        }
        (row + w * cp).update(repeating: 0, count: cp)  // the next row's left border
    }
    (xt + ((h + 1) * wp + 1) * cp).update(repeating: 0, count: wp * cp)  // row H + 1 and the slack
}

@inline(__always)
private func mapped(_ v: Float, _ affine: ChannelAffine?, channel c: Int) -> Float {
    affine.map { $0(v, channel: c) } ?? v
}

/// Writes the 8x8 block whose rows start at `source` (rows `sourceStride` apart; row k is of
/// channel `firstChannel` + k, mapped by `affine` when given) to `target` turned around: target
/// row q holds the block's column q. Three rounds of splitting the 64 values into even and odd
/// positions move the index bits (row, column) to (column, row).
@inline(__always)
private func transpose8x8(_ source: UnsafePointer<Float>, stride sourceStride: Int,
                          into target: UnsafeMutablePointer<Float>, stride targetStride: Int,
                          affine: ChannelAffine?, firstChannel c: Int) {
    @inline(__always) func row(_ k: Int) -> SIMD8<Float> {
        let v = load(source, k * sourceStride)
        return affine.map { $0(v, channel: c + k) } ?? v
    }
    var v0 = row(0), v1 = row(1), v2 = row(2), v3 = row(3)
    var v4 = row(4), v5 = row(5), v6 = row(6), v7 = row(7)
    for _ in 0..<3 {
        let p0 = SIMD16(lowHalf: v0, highHalf: v1), p1 = SIMD16(lowHalf: v2, highHalf: v3)
        let p2 = SIMD16(lowHalf: v4, highHalf: v5), p3 = SIMD16(lowHalf: v6, highHalf: v7)
        v0 = p0.evenHalf; v1 = p1.evenHalf; v2 = p2.evenHalf; v3 = p3.evenHalf
        v4 = p0.oddHalf; v5 = p1.oddHalf; v6 = p2.oddHalf; v7 = p3.oddHalf
    }
    store(v0, target, 0); store(v1, target + targetStride, 0)
    store(v2, target + 2 * targetStride, 0); store(v3, target + 3 * targetStride, 0)
    store(v4, target + 4 * targetStride, 0); store(v5, target + 5 * targetStride, 0)
    store(v6, target + 6 * targetStride, 0); store(v7, target + 7 * targetStride, 0)
}

/// Adds the weight gradient of `images` consecutive images to dwt [Co][3][3][Cp], from their
/// channels-last inputs xt and padded output gradients dyp (image j's at j times
/// `transposedImageSize` and `paddedImageSize` of their channel counts). A last block of one or
/// two output channels broadcasts the first one's gradient again and discards those sums.
public func directWeightGradient3x3(transposedInputs xt: UnsafePointer<Float>, paddedGradients dyp: UnsafePointer<Float>,
                                    images: Int, into dwt: UnsafeMutablePointer<Float>,
                                    inChannels: Int, outChannels: Int, height h: Int, width w: Int) {
    let wp = paddedRowStride(width: w), plane = (h + 2) * wp, cp = transposedChannels(inChannels)
    let first = wp + 1, span = (h - 1) * wp + w  // P of x[·, 0, 0], and positions up to the last pixel
    let inputStride = transposedImageSize(channels: inChannels, height: h, width: w)
    let gradientStride = paddedImageSize(channels: outChannels, height: h, width: w)
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

/// How many images one call of `directWeightGradient3x3` should take: about 32 rows, so that
/// adding the accumulators to dwt is a small part of the work.
public func weightGradientImages(height h: Int) -> Int { max(1, 32 / max(1, h)) }
