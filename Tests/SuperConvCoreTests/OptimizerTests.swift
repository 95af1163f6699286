import Foundation
import XCTest
@testable import SuperConvCore

/// Update rules on the quadratic f(w) = Σ h_i·w_i²/2 (gradient h·w): against PyTorch's
/// optimizers where PyTorch has the rule, and against the paper's Caffe equations otherwise.
final class OptimizerTests: XCTestCase {
    let h: [Float] = [1, 10]

    /// Runs `steps` updates from w = (1, −2) and returns the iterates.
    func iterates(_ keys: String, lr: Float, momentum: [Float], steps: Int,
                  lrMultiplier: Float = 1, decayMultiplier: Float = 1) throws -> [[Float]] {
        let spec = try SpecSchema(subject: "optimizer", keys: OptimizerConfiguration.keys).parse(keys)
        let optimizer = try OptimizerConfiguration(spec).makeOptimizer(counts: [2])
        var w: [Float] = [1, -2]
        var g: [Float] = [0, 0]
        var result: [[Float]] = []
        for step in 0..<steps {
            for i in 0..<2 { g[i] = h[i] * w[i] }
            w.withUnsafeMutableBufferPointer { wb in
                g.withUnsafeBufferPointer { gb in
                    optimizer.step([ParameterSlot(value: wb.baseAddress!, gradient: gb.baseAddress!, count: 2,
                                                  learningRateMultiplier: lrMultiplier, decayMultiplier: decayMultiplier)],
                                   StepHyperparameters(learningRate: lr, momentum: momentum[step % momentum.count]))
                }
            }
            result.append(w)
        }
        return result
    }

    func testMatchesPyTorchOptimizers() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../fixtures/optimizer_references.csv").standardized.path
        var cases: [(keys: String, lr: Float, momentum: Float, expected: [[Double]])] = []
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: ";")
            if line.hasPrefix("spec: ") {
                cases.append((String(fields[0].dropFirst(6)), Float(fields[1])!, Float(fields[2])!, []))
            } else {
                cases[cases.count - 1].expected.append(fields.map { Double($0)! })
            }
        }
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let ours = try iterates(c.keys, lr: c.lr, momentum: [c.momentum], steps: c.expected.count)
            for (step, (a, b)) in zip(ours, c.expected).enumerated() {
                for i in 0..<2 {
                    XCTAssertEqual(Double(a[i]), b[i], accuracy: 1e-5 + 1e-4 * abs(b[i]), "\(c.keys) step \(step + 1) w\(i)")
                }
            }
        }
    }

    /// Caffe's SGD, v = m·v + lr·(g + wd·w), w −= v, with a momentum that changes every step
    /// and a learning rate large enough to oscillate (lr·h = 1.5 on the stiff coordinate).
    func testCaffeSGDFollowsItsRecurrence() throws {
        let (lr, wd): (Double, Double) = (0.15, 0.01)
        let momenta: [Float] = [0.95, 0.9, 0.85]
        let ours = try iterates("optimizer=sgd form=caffe weight_decay=0.01", lr: Float(lr), momentum: momenta, steps: 9)
        var w: [Double] = [1, -2], v: [Double] = [0, 0]
        for step in 0..<9 {
            let m = Double(momenta[step % 3])
            for i in 0..<2 {
                v[i] = m * v[i] + lr * (Double(h[i]) * w[i] + wd * w[i])
                w[i] -= v[i]
                XCTAssertEqual(Double(ours[step][i]), w[i], accuracy: 1e-5 * max(1, abs(w[i])), "step \(step + 1) w\(i)")
            }
        }
    }

    /// Caffe's Nesterov: v_new = m·v + lr·g, w −= (1 + m)·v_new − m·v_old.
    func testCaffeNesterovFollowsItsRecurrence() throws {
        let ours = try iterates("optimizer=nesterov form=caffe weight_decay=0", lr: 0.05, momentum: [0.9], steps: 8)
        var w: [Double] = [1, -2], v: [Double] = [0, 0]
        for step in 0..<8 {
            for i in 0..<2 {
                let old = v[i]
                v[i] = 0.9 * old + 0.05 * Double(h[i]) * w[i]
                w[i] -= 1.9 * v[i] - 0.9 * old
                XCTAssertEqual(Double(ours[step][i]), w[i], accuracy: 1e-5 * max(1, abs(w[i])), "step \(step + 1) w\(i)")
            }
        }
    }

    /// Caffe's multipliers: a bias with lr_mult 2 and decay_mult 0 steps as if lr were doubled
    /// and weight decay absent.
    func testMultipliersScaleRateAndDecay() throws {
        let multiplied = try iterates("optimizer=sgd weight_decay=0.5", lr: 0.01, momentum: [0.9], steps: 3,
                                      lrMultiplier: 2, decayMultiplier: 0)
        let plain = try iterates("optimizer=sgd weight_decay=0", lr: 0.02, momentum: [0.9], steps: 3)
        XCTAssertEqual(multiplied, plain)
    }

    /// Clipping by global norm: the gradient (1, −20) has norm √401; with clip 1 the first SGD
    /// step (no momentum, no decay) moves w by lr·g/√401 exactly.
    func testClippingScalesToTheGlobalNorm() throws {
        let ours = try iterates("optimizer=sgd weight_decay=0 clip=1", lr: 0.1, momentum: [0], steps: 1)
        let scale = 1 / Double(401).squareRoot()
        XCTAssertEqual(Double(ours[0][0]), 1 - 0.1 * 1 * scale, accuracy: 1e-6)
        XCTAssertEqual(Double(ours[0][1]), -2 + 0.1 * 20 * scale, accuracy: 1e-6)
        // Below the threshold nothing changes.
        XCTAssertEqual(try iterates("optimizer=sgd weight_decay=0 clip=100", lr: 0.1, momentum: [0], steps: 2),
                       try iterates("optimizer=sgd weight_decay=0", lr: 0.1, momentum: [0], steps: 2))
    }

    func testStateSizesAndStepCount() throws {
        for (kind, perSlot) in [("sgd", 1), ("nesterov", 1), ("adagrad", 1), ("adadelta", 2), ("adam", 2), ("adamw", 2)] {
            let spec = try SpecSchema(subject: "optimizer", keys: OptimizerConfiguration.keys).parse("optimizer=\(kind)")
            let optimizer = try OptimizerConfiguration(spec).makeOptimizer(counts: [3, 5])
            let expected = Array(repeating: 3, count: perSlot) + Array(repeating: 5, count: perSlot)
            XCTAssertEqual(optimizer.state.map(\.count), expected, kind)
        }
    }
}
