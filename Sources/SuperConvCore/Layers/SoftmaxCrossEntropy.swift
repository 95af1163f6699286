import Glibc

/// Softmax followed by the negative log-likelihood of the labels, averaged over the batch, as
/// PyTorch's `nn.CrossEntropyLoss()` (Caffe's SoftmaxWithLoss).
///
/// With p = softmax(z) per sample, loss = −(1/N) Σ_n log p[n, label_n]. Backward (the softmax
/// and the log cancel): dz[n, k] = (p[n, k] − [k = label_n]) / N.
public final class SoftmaxCrossEntropy {
    private let probabilities: Tensor, gradInput: Tensor

    public init() throws {
        probabilities = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    /// Labels must already be validated to lie in [0, K). Returns the mean loss and how many
    /// samples have their label as the arg-max logit (first maximum on ties).
    public func forward(_ logits: Tensor, labels: UnsafePointer<Int32>) throws -> (loss: Float, correct: Int) {
        let n = logits.shape.n, k = logits.count / max(1, n)
        try probabilities.resize(Shape(n, k))
        var total = 0.0
        var correct = 0
        for i in 0..<n {
            let z = logits.data + i * k, p = probabilities.data + i * k
            var best = 0
            for j in 1..<max(1, k) where z[j] > z[best] { best = j }
            let top = z[best]
            var s = 0.0
            for j in 0..<k { let e = exp(Double(z[j] - top)); p[j] = Float(e); s += e }
            for j in 0..<k { p[j] = Float(Double(p[j]) / s) }
            let label = Int(labels[i])
            total += -(Double(z[label] - top) - log(s))
            if best == label { correct += 1 }
        }
        return (Float(total / Double(n)), correct)
    }

    public func backward(labels: UnsafePointer<Int32>) throws -> Tensor {
        try gradInput.resize(probabilities.shape)
        let n = probabilities.shape.n, k = probabilities.shape[1]
        let scale = 1 / Float(n)
        for i in 0..<n {
            for j in 0..<k { gradInput.data[i * k + j] = probabilities.data[i * k + j] * scale }
            gradInput.data[i * k + Int(labels[i])] -= scale
        }
        return gradInput
    }
}
