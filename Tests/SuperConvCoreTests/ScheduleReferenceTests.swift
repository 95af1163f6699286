import Foundation
import XCTest
@testable import SuperConvCore

/// Every schedule matches PyTorch's scheduler of the same meaning, iteration by iteration, to
/// float32 precision. The references come from Tests/fixtures/make_schedule_references.py.
final class ScheduleReferenceTests: XCTestCase {
    func testSchedulesMatchPyTorch() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../fixtures/schedule_references.csv").standardized.path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var schedule: (any Schedule)?
        var spec = ""
        var checked = 0, specs = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("spec: ") {
                spec = String(line.dropFirst("spec: ".count))
                schedule = try ScheduleConfiguration(spec: spec).schedule
                specs += 1
                continue
            }
            let fields = line.split(separator: ";")
            let (it, lr, momentum) = (Int(fields[0])!, Double(fields[1])!, Double(fields[2])!)
            let ours = try XCTUnwrap(schedule).values(at: it)
            XCTAssertEqual(Double(ours.learningRate), lr, accuracy: 1e-7 + 1e-6 * abs(lr), "\(spec) lr at \(it)")
            XCTAssertEqual(Double(ours.momentum), momentum, accuracy: 1e-7, "\(spec) momentum at \(it)")
            checked += 1
        }
        XCTAssertEqual(specs, 10)
        XCTAssertGreaterThan(checked, 5000)
    }
}
