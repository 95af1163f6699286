import Glibc

/// Wall-clock time per part of a training step (each layer's forward and backward, the loss,
/// the finite check, the optimizer), for profiles. Off by default, when measuring costs one
/// branch per part; slots are registered when the model is built, so measuring allocates nothing.
public final class Profiler {
    public var isEnabled = false
    private var names: [String] = []
    private var forwardSeconds: [Double] = []
    private var backwardSeconds: [Double] = []
    private var steps = 0

    public init() {}

    /// A slot for the part called `name` ("layer1.0.conv1", "optimizer").
    func slot(_ name: String) -> Int {
        names.append(name)
        forwardSeconds.append(0)
        backwardSeconds.append(0)
        return names.count - 1
    }

    @inline(__always)
    func forward<T>(_ slot: Int, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        return try timed(body) { forwardSeconds[slot] += $0 }
    }

    @inline(__always)
    func backward<T>(_ slot: Int, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        return try timed(body) { backwardSeconds[slot] += $0 }
    }

    private func timed<T>(_ body: () throws -> T, _ add: (Double) -> Void) rethrows -> T {
        let start = monotonicSeconds()
        defer { add(monotonicSeconds() - start) }
        return try body()
    }

    /// Counts a training step, the unit of the report's averages.
    func countStep() { if isEnabled { steps += 1 } }

    public func reset() {
        for i in names.indices { (forwardSeconds[i], backwardSeconds[i]) = (0, 0) }
        steps = 0
    }

    /// Milliseconds per step for every part, then per kind of part (the name's last component
    /// without digits: conv, bn, relu, add, ...), largest first, with shares of the total.
    public var report: String {
        let perStep = 1000 / Double(max(1, steps))
        let total = (forwardSeconds.reduce(0, +) + backwardSeconds.reduce(0, +)) * perStep
        func row(_ name: String, _ f: Double, _ b: Double) -> String {
            let share = total > 0 ? 100 * (f + b) / total : 0
            return pad(name, 22) + pad(fixed(f, 2), 12, right: true) + pad(fixed(b, 2), 12, right: true)
                + pad(fixed(share, 1) + "%", 9, right: true)
        }
        var lines = ["\(steps) training steps; milliseconds per step", pad("part", 22) + pad("forward", 12, right: true)
                     + pad("backward", 12, right: true) + pad("share", 9, right: true)]
        var kinds: [(String, Double, Double)] = []
        for (i, name) in names.enumerated() {
            let f = forwardSeconds[i] * perStep, b = backwardSeconds[i] * perStep
            lines.append(row(name, f, b))
            let kind = String(name.split(separator: ".").last!.filter { !$0.isNumber })
            if let k = kinds.firstIndex(where: { $0.0 == kind }) {
                kinds[k].1 += f
                kinds[k].2 += b
            } else {
                kinds.append((kind, f, b))
            }
        }
        lines.append("")
        lines.append(pad("kind", 22) + pad("forward", 12, right: true) + pad("backward", 12, right: true)
                     + pad("share", 9, right: true))
        for (kind, f, b) in kinds.sorted(by: { $0.1 + $0.2 > $1.1 + $1.2 }) { lines.append(row(kind, f, b)) }
        lines.append(row("total", forwardSeconds.reduce(0, +) * perStep, backwardSeconds.reduce(0, +) * perStep))
        return lines.joined(separator: "\n")
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

private func fixed(_ x: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (x * scale).rounded() / scale
    var text = "\(rounded)"
    let digits = text.split(separator: ".").last?.count ?? 0
    if digits < decimals { text += String(repeating: "0", count: decimals - digits) }
    return text
}

private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}
