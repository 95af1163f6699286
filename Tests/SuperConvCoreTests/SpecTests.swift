import XCTest
@testable import SuperConvCore

/// Spec strings: defaults, normalisation, and errors that name the key.
final class SpecTests: XCTestCase {
    func error(_ body: () throws -> Void) -> SuperConvError? {
        do { try body() } catch let e as SuperConvError { return e } catch { return nil }
        return nil
    }

    func testNormalisedSpecListsEveryKeyInSchemaOrder() throws {
        let config = try ModelConfiguration(spec: "  seed=9   depth=56 ")
        XCTAssertEqual(config.spec.normalized,
                       "depth=56 variant=caffe input=3x32x32 classes=10 seed=9 bn_maf=0.95 bn_eps=1e-05 bn_stats=caffe bn_eval=global dropout=0")
        XCTAssertEqual(config.blocksPerStage, 9)
    }

    func testUnknownKeyListsTheValidOnes() {
        let e = error { _ = try ModelConfiguration(spec: "depht=20") }
        XCTAssertEqual(e?.status, .invalidArgument)
        XCTAssertEqual(e?.message, "model spec: unknown key 'depht'; valid keys: depth, variant, input, classes, seed, bn_maf, bn_eps, bn_stats, bn_eval, dropout")
    }

    func testOutOfRangeValuesNameTheKeyAndTheRange() {
        XCTAssertEqual(error { _ = try ModelConfiguration(spec: "bn_maf=0") }?.message,
                       "model spec: bn_maf=0 is invalid: expected a finite number in (0.0, 1.0]")
        XCTAssertEqual(error { _ = try TrainerConfiguration(spec: "lr=inf") }?.message,
                       "trainer spec: lr=inf is invalid: expected a finite number in [0.0, 1000000.0]")
        XCTAssertEqual(error { _ = try ModelConfiguration(spec: "depth=22") }?.message,
                       "model spec: depth=22 is invalid: expected 6n+2 (20, 32, 44, 56, 110, ...)")
        XCTAssertEqual(error { _ = try ModelConfiguration(spec: "input=3x32x0") }?.status, .invalidArgument)
    }
}
