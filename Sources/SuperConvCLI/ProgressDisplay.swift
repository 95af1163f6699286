import Glibc

/// Progress on stderr: on a terminal a live bar redrawn in place (at most 10 times a second),
/// otherwise a plain line every `every` steps, so that logs stay readable.
final class ProgressDisplay {
    /// none: summaries only; off: nothing at all (the ranks other than 0 of a distributed run).
    enum Style { case bar, lines, none, off }

    let style: Style
    let every: Int
    private var label = ""
    private var total = 0        // steps in the current phase
    private var done = 0
    private var context = ""     // e.g. "epoch 2/10"
    private var phaseStart = 0.0
    private var lastDraw = 0.0

    init(style: Style, every: Int) {
        self.style = style
        self.every = max(1, every)
    }

    /// Bar on a terminal, lines otherwise; `quiet` silences the per-step reports.
    static func automatic(quiet: Bool, every: Int) -> ProgressDisplay {
        ProgressDisplay(style: quiet ? .none : (isatty(STDERR_FILENO) != 0 ? .bar : .lines), every: every)
    }

    /// Starts a phase of `total` steps, e.g. an epoch.
    func begin(_ label: String, total: Int, context: String = "") {
        self.label = label
        self.total = total
        self.context = context
        done = 0
        phaseStart = now()
        lastDraw = 0
    }

    func step(iteration: Int, lr: Float, loss: Float, accuracy: Float) {
        done += 1
        switch style {
        case .none, .off:
            return
        case .lines:
            if done % every == 0 || done == total {
                Self.write("\(label) \(done)/\(total) \(context.isEmpty ? "" : context + " ")it \(iteration) "
                           + "lr \(format(lr, 4)) loss \(format(loss, 4)) acc \(format(accuracy, 3)) \(rateAndETA())\n")
            }
        case .bar:
            let t = now()
            guard t - lastDraw >= 0.1 || done == total else { return }
            lastDraw = t
            let width = 20, filled = total > 0 ? min(width, done * width / total) : 0
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = "\(context.isEmpty ? label : context) [\(bar)] \(done)/\(total) lr \(format(lr, 3)) "
                + "loss \(format(loss, 4)) acc \(format(accuracy, 3)) \(rateAndETA())"
            // Cut to the terminal's width: a wrapped line cannot be redrawn in place.
            Self.write("\r\u{1B}[K" + String(line.prefix(Self.terminalColumns() - 1)))
        }
    }

    /// Ends the phase: clears the bar so that the summary line stands alone.
    func end() {
        if style == .bar { Self.write("\r\u{1B}[K") }
    }

    /// A line that is not progress (a summary), printed between bars.
    func note(_ text: String) {
        guard style != .off else { return }
        end()
        Self.write(text + "\n")
    }

    private static func terminalColumns() -> Int {
        var size = winsize()
        return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    private func rateAndETA() -> String {
        let elapsed = now() - phaseStart
        guard done > 0, elapsed > 0 else { return "" }
        let rate = Double(done) / elapsed
        return "\(format(rate, 3)) it/s ETA \(duration(Double(total - done) / rate))"
    }

    static func write(_ text: String) {
        var text = text
        text.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// A number with `digits` significant digits, as %g.
func format(_ value: some BinaryFloatingPoint, _ digits: Int) -> String {
    var buffer = [CChar](repeating: 0, count: 32)
    _ = withVaList([Double(value)]) { vsnprintf(&buffer, 32, "%.\(digits)g", $0) }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// "1h02m", "3m12s", "42s".
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(pad((s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(pad(s % 60))s" }
    return "\(s)s"
}

private func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
