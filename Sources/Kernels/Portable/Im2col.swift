/// Lowering of a convolution to a matrix product, for a chunk of `batch` images at once.
///
/// Dimension names used throughout the convolution code:
///   B images in the chunk, C input channels, H x W input size, K kernel size (square),
///   S stride, P padding, OH x OW output size, L = OH*OW output positions per image.
/// The column matrix has C*K*K rows, one per (c, kh, kw), and B*L columns, one per
/// (b, oh, ow): row r, column b*L + l holds the input pixel that kernel tap r sees at output
/// position l of image b, or 0 in the padding.
public struct ConvolutionGeometry {
    public let channels: Int, height: Int, width: Int
    public let kernel: Int, stride: Int, padding: Int

    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
    }

    public var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    public var positions: Int { outputHeight * outputWidth }
    public var rows: Int { channels * kernel * kernel }

    /// The output columns x whose input column x·S − P + kw lies inside the image: [lo, hi).
    @inline(__always)
    func validColumns(_ kw: Int) -> (Int, Int) {
        let offset = kw - padding
        // Smallest x with x·S + offset >= 0, and first x with x·S + offset >= width.
        let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let hi = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride
        let clampedHi = min(outputWidth, hi)
        return (min(lo, clampedHi), clampedHi)
    }
}

/// col[C*K*K, B*L] <- input[B, C, H, W]. Serial: callers parallelise over images.
public func im2col(_ input: UnsafePointer<Float>, batch: Int, _ g: ConvolutionGeometry,
            into col: UnsafeMutablePointer<Float>) {
    let (oh, ow, l) = (g.outputHeight, g.outputWidth, g.positions)
    let imageSize = g.channels * g.height * g.width
    let columns = batch * l
    let kk = g.kernel * g.kernel
    for r in 0..<g.rows {
        let c = r / kk, kh = (r % kk) / g.kernel, kw = r % g.kernel
        let rowBase = col + r * columns
        for b in 0..<batch {
            let plane = input + b * imageSize + c * g.height * g.width
            let out = rowBase + b * l
            for y in 0..<oh {
                let iy = y * g.stride - g.padding + kh
                let dst = out + y * ow
                if iy < 0 || iy >= g.height {
                    dst.update(repeating: 0, count: ow)
                    continue
                }
                let src = plane + iy * g.width
                let (lo, hi) = g.validColumns(kw)
                dst.update(repeating: 0, count: lo)
                if g.stride == 1 {
                    (dst + lo).update(from: src + (lo + kw - g.padding), count: hi - lo)
                } else {
                    for x in lo..<hi { dst[x] = src[x * g.stride - g.padding + kw] }
                }
                (dst + hi).update(repeating: 0, count: ow - hi)
            }
        }
    }
}

/// output[B, C, H, W] = sum of col's entries over the taps that read each pixel (the adjoint of
/// im2col). `output` is overwritten. Serial: callers parallelise over images.
public func col2im(_ col: UnsafePointer<Float>, batch: Int, _ g: ConvolutionGeometry,
            into output: UnsafeMutablePointer<Float>) {
    let (oh, ow, l) = (g.outputHeight, g.outputWidth, g.positions)
    let planeSize = g.height * g.width
    let imageSize = g.channels * planeSize
    let columns = batch * l
    let kk = g.kernel * g.kernel
    for c in 0..<g.channels {
        for b in 0..<batch {
            let plane = output + b * imageSize + c * planeSize
            plane.update(repeating: 0, count: planeSize)
            for tap in 0..<kk {
                let kh = tap / g.kernel, kw = tap % g.kernel
                let src = col + (c * kk + tap) * columns + b * l
                for y in 0..<oh {
                    let iy = y * g.stride - g.padding + kh
                    if iy < 0 || iy >= g.height { continue }
                    let row = plane + iy * g.width
                    let s = src + y * ow
                    let (lo, hi) = g.validColumns(kw)
                    if g.stride == 1 {
                        let shifted = row + (kw - g.padding)
                        for x in lo..<hi { shifted[x] += s[x] }
                    } else {
                        for x in lo..<hi { row[x * g.stride - g.padding + kw] += s[x] }
                    }
                }
            }
        }
    }
}
