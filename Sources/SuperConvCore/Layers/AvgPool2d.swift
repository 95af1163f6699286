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
    private let output: Tensor, gradInput: Tensor

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

    /// The window of output index o along an axis of `size`: [start, end).
    @inline(__always)
    private func window(_ o: Int, _ size: Int) -> (Int, Int) {
        let start = o * stride
        return (start, min(start + kernel, size))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        inputShape = x.shape
        let out = outputShape(for: x.shape)
        try output.resize(out)
        let (h, w, oh, ow) = (x.shape.h, x.shape.w, out.h, out.w)
        parallelFor(x.shape.n * x.shape.c) { planes in
            for plane in planes {
                let src = x.data + plane * h * w, dst = output.data + plane * oh * ow
                for oy in 0..<oh {
                    let (y0, y1) = window(oy, h)
                    for ox in 0..<ow {
                        let (x0, x1) = window(ox, w)
                        var s: Float = 0
                        for y in y0..<y1 { for xx in x0..<x1 { s += src[y * w + xx] } }
                        dst[oy * ow + ox] = s / Float((y1 - y0) * (x1 - x0))
                    }
                }
            }
        }
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try gradInput.resize(inputShape)
        let (h, w, oh, ow) = (inputShape.h, inputShape.w, dy.shape.h, dy.shape.w)
        parallelFor(inputShape.n * inputShape.c) { planes in
            for plane in planes {
                let dst = gradInput.data + plane * h * w, src = dy.data + plane * oh * ow
                dst.update(repeating: 0, count: h * w)
                for oy in 0..<oh {
                    let (y0, y1) = window(oy, h)
                    for ox in 0..<ow {
                        let (x0, x1) = window(ox, w)
                        let share = src[oy * ow + ox] / Float((y1 - y0) * (x1 - x0))
                        for y in y0..<y1 { for xx in x0..<x1 { dst[y * w + xx] += share } }
                    }
                }
            }
        }
        return gradInput
    }
}
