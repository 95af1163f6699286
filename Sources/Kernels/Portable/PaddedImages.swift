// The zero-padded image copies the direct 3x3 kernels read, the same for every instruction set:
// each kernel module compiles these with its own flags (they are inlinable) behind entry points
// of its own.
//
// Plane-major (forward and dx): x [C, H, W] held as xp [C, H + 2, S] with S = `paddedRowStride(W)`
// = W + 1: x[c, r, q] at xp[c, r + 1, q + 1], zeros around (rows 0 and H + 1, and column 0,
// which is also the right border of the row before), plus slack for the over-reads of the last
// block of a plane: lanes that read past a row's end belong to outputs that are not stored.
//
// Channels-last (the weight gradient): positions P = row · S + column over the padded plane,
// x[c, r, q] at xt[P = (r + 1) · S + q + 1][c], each position `transposedChannels(C, lanes:)`
// floats (the channels rounded up to the kernel's vector width; lanes past C are never written,
// and whatever they hold stays in their own lanes of the result).

/// The row stride of padded images: one zero column between rows serves as the right border of
/// one row and the left border of the next.
@inlinable
public func paddedRowStride(width w: Int) -> Int { w + 1 }

/// Floats of slack after a padded image: a kernel's last block reads past the last plane, up to
/// five rows and a vector (the stride-2 kernel's stacked rows, whose second vector it loads even
/// where those output rows do not exist; the Winograd kernels' partial last run of a row, up to
/// two vectors less one float).
@inlinable
public func directConvolutionSlack(width w: Int) -> Int { 5 * paddedRowStride(width: w) + 32 }

/// Floats of a padded image of `channels` planes, slack included.
@inlinable
public func paddedImageSize(channels: Int, height h: Int, width w: Int) -> Int {
    channels * (h + 2) * paddedRowStride(width: w) + directConvolutionSlack(width: w)
}

/// Writes one image x [C, H, W] as a whole plane-major padded image: the image's rows at their place (mapped
/// by `affine` when given), zeros everywhere else (borders and slack), so the buffer needs no
/// clearing beforehand.
@inlinable @inline(__always)
public func writePaddedImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                     channels: Int, height h: Int, width w: Int, affine: ChannelAffine? = nil) {
    let wp = paddedRowStride(width: w)
    var out = padded
    for c in 0..<channels {
        out.update(repeating: 0, count: wp)
        out += wp
        for r in 0..<h {
            out[0] = 0
            if let affine {
                affine.apply(x + (c * h + r) * w, into: out + 1, count: w, channel: c)
            } else {
                (out + 1).update(from: x + (c * h + r) * w, count: w)
            }
            out += wp
        }
        out.update(repeating: 0, count: wp)
        out += wp
    }
    out.update(repeating: 0, count: directConvolutionSlack(width: w))
}

/// Floats per position of a channels-last padded image: the channels rounded up to `lanes`.
@inlinable
public func transposedChannels(_ channels: Int, lanes: Int) -> Int { (channels + lanes - 1) / lanes * lanes }

/// Floats of a channels-last padded image, a multiple of 16 so that the images of a group stay
/// 64-byte aligned; one position of slack for the last tap of the last pixel.
@inlinable
public func transposedImageSize(channels: Int, height h: Int, width w: Int, lanes: Int) -> Int {
    (((h + 2) * paddedRowStride(width: w) + 1) * transposedChannels(channels, lanes: lanes) + 15) / 16 * 16
}

/// Writes one image x [C, H, W] channels-last into a padded buffer of `lanes`-wide positions (see
/// the file comment), mapped by `affine` when given, zeros included, so the buffer needs no
/// clearing beforehand.
@inlinable @inline(__always)
public func writeTransposedImage(_ x: UnsafePointer<Float>, into xt: UnsafeMutablePointer<Float>, channels: Int,
                                 height h: Int, width w: Int, lanes: Int, affine: ChannelAffine?) {
    let wp = paddedRowStride(width: w), cp = transposedChannels(channels, lanes: lanes)
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

@usableFromInline @inline(__always)
func mapped(_ v: Float, _ affine: ChannelAffine?, channel c: Int) -> Float {
    affine.map { $0(v, channel: c) } ?? v
}

/// Writes the 8x8 block whose rows start at `source` (rows `sourceStride` apart; row k is of
/// channel `firstChannel` + k, mapped by `affine` when given) to `target` turned around: target
/// row q holds the block's column q. Three rounds of splitting the 64 values into even and odd
/// positions move the index bits (row, column) to (column, row).
@usableFromInline @inline(__always)
func transpose8x8(_ source: UnsafePointer<Float>, stride sourceStride: Int,
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

/// How many images one call of a direct weight-gradient kernel should take: about 32 rows, so that
/// adding the accumulators to dwt is a small part of the work.
@inlinable
public func weightGradientImages(height h: Int) -> Int { max(1, 32 / max(1, h)) }

/// Where a direct weight-gradient kernel finds its operands, for images of `inChannels` x H x W
/// (channels-last, `lanes` wide) and their output gradients of `outChannels` (plane-major).
public struct WeightGradientLayout {
    /// Padded row stride, padded plane, floats per channels-last position.
    public let rowStride: Int, plane: Int, channelStride: Int
    /// P of x[·, 0, 0], and the positions from there up to the last pixel: one flat run over
    /// them adds only true terms, since the padding between rows is zero.
    public let first: Int, span: Int
    /// Floats from one image's channels-last input, and from one image's padded gradient, to the next.
    public let inputStride: Int, gradientStride: Int

    @inlinable
    public init(inChannels: Int, outChannels: Int, height h: Int, width w: Int, lanes: Int) {
        rowStride = paddedRowStride(width: w)
        plane = (h + 2) * rowStride
        channelStride = transposedChannels(inChannels, lanes: lanes)
        first = rowStride + 1
        span = (h - 1) * rowStride + w
        inputStride = transposedImageSize(channels: inChannels, height: h, width: w, lanes: lanes)
        gradientStride = paddedImageSize(channels: outChannels, height: h, width: w)
    }
}
