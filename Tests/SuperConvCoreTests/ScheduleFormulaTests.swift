import XCTest
@testable import SuperConvCore

/// Schedules at their phase boundaries and past their end, against the published formulas.
final class ScheduleFormulaTests: XCTestCase {
    func values(_ spec: String, _ iteration: Int) throws -> (lr: Double, momentum: Double) {
        let v = try ScheduleConfiguration(spec: spec).schedule.values(at: iteration)
        return (Double(v.learningRate), Double(v.momentum))
    }

    func assertLR(_ spec: String, _ expected: [Int: Double], file: StaticString = #filePath, line: UInt = #line) throws {
        for (it, lr) in expected.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(try values(spec, it).lr, lr, accuracy: 1e-6 * max(1, abs(lr)), "\(spec) at \(it)",
                           file: file, line: line)
        }
    }

    /// The paper's CLR 0.1-3, stepsize 5000, one cycle in 10,000 iterations (Table 1).
    func testTriangularOfThePaper() throws {
        let spec = "policy=triangular base_lr=0.1 max_lr=3 stepsize=5000"
        try assertLR(spec, [0: 0.1, 2500: 1.55, 5000: 3, 7500: 1.55, 10000: 0.1, 15000: 3])
        // With max_iter the value at max_iter is held: a single cycle stays at base_lr.
        try assertLR(spec + " max_iter=10000", [10000: 0.1, 12500: 0.1, 1_000_000: 0.1])
    }

    func testTriangular2HalvesTheAmplitudeEachCycle() throws {
        let spec = "policy=triangular2 base_lr=1 max_lr=3 stepsize=10"
        try assertLR(spec, [10: 3, 20: 1, 30: 2, 50: 1.5, 70: 1.25])
    }

    func testExpRangeScalesByGammaToTheIteration() throws {
        try assertLR("policy=exp_range base_lr=0 max_lr=1 stepsize=10 gamma=0.9", [10: pow(0.9, 10), 30: pow(0.9, 30)])
    }

    func testAsymmetricCycle() throws {
        let spec = "policy=triangular base_lr=0 max_lr=1 stepsize=10 stepsize_down=30"
        try assertLR(spec, [0: 0, 5: 0.5, 10: 1, 25: 0.5, 40: 0, 50: 1])
    }

    /// The paper's PC-LR: 0.35, x0.1 at 50k and 70k.
    func testMultistepOfThePaper() throws {
        let spec = "policy=multistep base_lr=0.35 gamma=0.1 stepvalues=50000,70000"
        try assertLR(spec, [0: 0.35, 49_999: 0.35, 50_000: 0.035, 69_999: 0.035, 70_000: 0.0035, 90_000: 0.0035])
    }

    func testStepExpAndPoly() throws {
        try assertLR("policy=step base_lr=1 gamma=0.5 stepsize=10", [9: 1, 10: 0.5, 25: 0.25])
        try assertLR("policy=exp base_lr=2 gamma=0.5", [0: 2, 3: 0.25])
        try assertLR("policy=poly base_lr=1 power=2 max_iter=10", [0: 1, 5: 0.25, 10: 0, 20: 0])
    }

    /// Smith's 1cycle: up, down, annihilation to base_lr/1000, then held; momentum 0.95 -> 0.85 -> 0.95.
    func testOneCycleLinearPhases() throws {
        let spec = "policy=onecycle base_lr=0.1 max_lr=3 stepsize=100 max_iter=300 annihilation=0.001"
        try assertLR(spec, [0: 0.1, 50: 1.55, 100: 3, 200: 0.1, 250: 0.1 * (1 - 0.999 / 2), 300: 0.0001, 5000: 0.0001])
        XCTAssertEqual(try values(spec, 0).momentum, 0.95, accuracy: 1e-6)
        XCTAssertEqual(try values(spec, 100).momentum, 0.85, accuracy: 1e-6)
        XCTAssertEqual(try values(spec, 150).momentum, 0.90, accuracy: 1e-6)
        XCTAssertEqual(try values(spec, 250).momentum, 0.95, accuracy: 1e-6)
    }

    func testCosineOneCycleBoundariesAndHold() throws {
        let spec = "policy=onecycle_cosine max_lr=2 total_steps=101 pct_start=0.5 div=20 final_div=100"
        // Phase 1 ends at pct*T - 1 = 49.5: cosine from 0.1 towards 2; the last iteration is 100.
        try assertLR(spec, [0: 0.1, 100: 0.1 / 100, 1000: 0.1 / 100])
        XCTAssertEqual(try values(spec, 0).momentum, 0.95, accuracy: 1e-6)
        XCTAssertEqual(try values(spec, 100).momentum, 0.95, accuracy: 1e-6)
    }

    func testWarmRestartsPeriods() throws {
        let spec = "policy=sgdr base_lr=1 t0=10 t_mult=2 eta_min=0"
        try assertLR(spec, [0: 1, 5: 0.5, 10: 1, 20: 0.5, 30: 1])
    }

    func testRampsEndAtMaxLrAndHold() throws {
        try assertLR("policy=linear_ramp base_lr=0 max_lr=3 max_iter=300", [0: 0, 100: 1, 300: 3, 400: 3])
        try assertLR("policy=exp_ramp base_lr=0.001 max_lr=10 max_iter=4", [0: 0.001, 1: 0.01, 4: 10, 9: 10])
    }

    func testWarmupScalesTheFirstIterations() throws {
        try assertLR("policy=fixed base_lr=1 warmup=4", [0: 0.25, 1: 0.5, 3: 1, 10: 1])
    }

    func testNormalisedSpecHasThePolicysKeysOnly() throws {
        XCTAssertEqual(try ScheduleConfiguration(spec: "policy=multistep").spec.normalized,
                       "policy=multistep base_lr=0.35 gamma=0.1 stepvalues=50000,70000 momentum=0.9 warmup=0")
        XCTAssertEqual(try ScheduleConfiguration(spec: "").spec.normalized, "policy=fixed base_lr=0.1 momentum=0.9 warmup=0")
    }

    func testBadSpecsAreRejectedWithTheKeyNamed() {
        func message(_ spec: String) -> String {
            do { _ = try ScheduleConfiguration(spec: spec) } catch let e as SuperConvError { return e.message } catch {}
            return "accepted"
        }
        XCTAssertTrue(message("policy=cosine").contains("policy=cosine is invalid"))
        XCTAssertTrue(message("policy=triangular stepsize=-5").contains("stepsize=-5"))
        XCTAssertTrue(message("policy=triangular stepsize=0").contains("stepsize=0"))
        XCTAssertTrue(message("policy=triangular base_lr=1 max_lr=0.5").contains("max_lr=0.5"))
        XCTAssertTrue(message("policy=multistep stepvalues=70000,50000").contains("stepvalues"))
        XCTAssertTrue(message("policy=onecycle stepsize=100 max_iter=150").contains("max_iter=150"))
        XCTAssertTrue(message("policy=fixed momentum=1").contains("momentum=1"))
        XCTAssertTrue(message("policy=fixed momentum=0.95,0.85").contains("single momentum"))
        XCTAssertTrue(message("policy=fixed max_lr=3").contains("unknown key 'max_lr'"))
        XCTAssertTrue(message("policy=exp_ramp base_lr=0").contains("base_lr > 0"))
        XCTAssertTrue(message("policy=fixed base_lr=nan").contains("base_lr=nan"))
    }
}
