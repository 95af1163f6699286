/// Average pooling without padding, output size rounded up (Caffe's pooling arithmetic), as in
/// the paper's downsampling shortcut: 3x3 windows, stride 2, 32 -> 16 -> 8.
///
/// OH = ceil((H − K)/S) + 1 (dropping a last window that would start past the input); a window
/// clipped by the border averages only the pixels it covers, so the last window of a 32-pixel
/// row covers pixels 30 and 31 and divides by 2.
/// Backward: each input pixel receives dy/|window| from every window that contains it.
public final class AvgPool2d: Layer {
    public let kernel: Int, stride: Int
    private var inputShape = Shape(1)
    private let output: Tensor
    private let gradInput: Tensor

    public init(kernel: Int, stride: Int) throws {
        self.kernel = kernel
        self.stride = stride
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public func outputSize(_ size: Int) -> Int {
        guard size >= kernel else { return 1 }
        var out = (size - kernel + stride - 1) / stride + 1
        if (out - 1) * stride >= size { out -= 1 }
        return out
    }

    public func outputShape(for s: Shape) -> Shape {
        Shape(s.n, s.c, outputSize(s.h), outputSize(s.w))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        try forward(x, into: output)
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try backward(dy, into: gradInput)
        return gradInput
    }

    /// The forward pass into a tensor of the caller's (a fused block's buffer).
    func forward(_ x: Tensor, into y: Tensor) throws {
        inputShape = x.shape
        try y.resize(outputShape(for: x.shape))
        parallelFor(x.shape.n * x.shape.c, Pooling(windows: windows(y.shape), image: x.data, pooled: y.data))
    }

    /// The backward pass into a tensor of the caller's.
    func backward(_ dy: Tensor, into dx: Tensor) throws {
        try dx.resize(inputShape)
        parallelFor(inputShape.n * inputShape.c,
                    PoolingGradient(windows: windows(dy.shape), gradPooled: dy.data, gradImage: dx.data))
    }

    private func windows(_ out: Shape) -> PoolingWindows {
        PoolingWindows(kernel: kernel, stride: stride, h: inputShape.h, w: inputShape.w, oh: out.h, ow: out.w)
    }
}

/// The windows of one plane: output (oy, ox) averages rows y0..<y1 and columns x0..<x1.
private struct PoolingWindows {
    let kernel: Int, stride: Int, h: Int, w: Int, oh: Int, ow: Int

    @inline(__always)
    func span(_ o: Int, _ size: Int) -> Range<Int> {
        let start = o * stride
        return start..<min(start + kernel, size)
    }
}

private struct Pooling: ParallelBody {
    let windows: PoolingWindows
    let image: UnsafePointer<Float>, pooled: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ planes: Range<Int>) {
        let (h, w, oh, ow) = (windows.h, windows.w, windows.oh, windows.ow)
        for plane in planes {
            let src = image + plane * h * w, dst = pooled + plane * oh * ow
            for oy in 0..<oh {
                let rows = windows.span(oy, h)
                for ox in 0..<ow {
                    let cols = windows.span(ox, w)
                    var s: Float = 0
                    for y in rows { for x in cols { s += src[y * w + x] } }
                    dst[oy * ow + ox] = s / Float(rows.count * cols.count)
                }
            }
        }
    }
}

private struct PoolingGradient: ParallelBody {
    let windows: PoolingWindows
    let gradPooled: UnsafePointer<Float>, gradImage: UnsafeMutablePointer<Float>

    func callAsFunction(_ worker: Int, _ planes: Range<Int>) {
        let (h, w, oh, ow) = (windows.h, windows.w, windows.oh, windows.ow)
        for plane in planes {
            let dst = gradImage + plane * h * w, src = gradPooled + plane * oh * ow
            dst.update(repeating: 0, count: h * w)
            for oy in 0..<oh {
                let rows = windows.span(oy, h)
                for ox in 0..<ow {
                    let cols = windows.span(ox, w)
                    let share = src[oy * ow + ox] / Float(rows.count * cols.count)
                    for y in rows { for x in cols { dst[y * w + x] += share } }
                }
            }
        }
    }
}
