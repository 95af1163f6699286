import Foundation
import XCTest
@testable import SuperConvCore

/// The header is the manual: each create function's "Spec keys and defaults:" table names
/// exactly the keys of the library's schema, with the schema's defaults.
final class HeaderSpecKeysTests: XCTestCase {
    static let header: [Substring] = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../include/superconv.h").path
        return (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n", omittingEmptySubsequences: false) ?? []
    }()

    /// The comment above `function`'s declaration.
    func comment(above function: String) -> [Substring] {
        guard let declaration = Self.header.firstIndex(where: { !$0.hasPrefix(" ") && $0.contains(" \(function)(") }),
              let start = Self.header[..<declaration].lastIndex(where: { $0.hasPrefix("/*") }) else {
            XCTFail("include/superconv.h declares no \(function) with a comment above it")
            return []
        }
        return Array(Self.header[start..<declaration])
    }

    /// The table's entries: a line indented five spaces with the more deeply indented lines
    /// after it, as the `key=value` tokens they contain.
    func table(of function: String) -> [[(key: String, value: String)]] {
        let lines = comment(above: function)
        guard let heading = lines.firstIndex(where: { $0.hasSuffix("Spec keys and defaults:") }) else {
            XCTFail("\(function)'s comment has no \"Spec keys and defaults:\" table")
            return []
        }
        let token = try! Regex(#"(?:^|[\s(])([a-z][a-z0-9_]*)=(\S+)"#)
        var entries: [[(key: String, value: String)]] = []
        for line in lines[(heading + 1)...] {
            let indent = line.prefix(while: { $0 == " " }).count
            guard indent >= 5, !line.hasPrefix(" */") else { break }
            if indent == 5 { entries.append([]) }
            for match in line.matches(of: token) {
                let key = String(match.output[1].substring!)
                let value = String(match.output[2].substring!).trimmingCharacters(in: CharacterSet(charactersIn: ",;)"))
                entries[entries.count - 1].append((key, value))
            }
        }
        return entries
    }

    /// "key=default" for every key, a placeholder such as PATH standing for "no default".
    func listing(_ pairs: [(key: String, value: String)]) -> Set<String> {
        Set(pairs.map { "\($0.key)=\($0.value == $0.value.uppercased() && $0.value.first!.isLetter ? "" : $0.value)" })
    }

    func assertDocuments(_ function: String, _ documented: Set<String>, _ schema: SpecSchema,
                         file: StaticString = #filePath, line: UInt = #line) {
        let expected = Set(schema.keys.map { "\($0.name)=\($0.defaultValue)" })
        XCTAssertEqual(documented, expected, """
            \(function) in include/superconv.h and the \(schema.subject) schema differ: \
            missing from the header \(expected.subtracting(documented).sorted()), \
            not in the schema \(documented.subtracting(expected).sorted())
            """, file: file, line: line)
    }

    /// Each entry's first token is its key and default.
    func assertTable(of function: String, is schema: SpecSchema, file: StaticString = #filePath, line: UInt = #line) {
        assertDocuments(function, listing(table(of: function).compactMap(\.first)), schema, file: file, line: line)
    }

    /// Entries begin `selector=variant` and list that variant's keys (an entry without keys shares
    /// the next one's); an entry that begins otherwise lists keys every variant takes.
    func assertVariantTable(of function: String, selector: String, variants: [String],
                            schema: (String) -> SpecSchema) {
        var common: [(key: String, value: String)] = []
        var keys: [String: [(key: String, value: String)]] = [:]
        var waiting: [String] = []
        for entry in table(of: function) {
            guard let first = entry.first else { continue }
            guard first.key == selector else { common += entry; continue }
            waiting.append(first.value)
            if entry.count > 1 {
                for variant in waiting { keys[variant] = [(selector, variant)] + entry.dropFirst() }
                waiting = []
            }
        }
        XCTAssertEqual(Set(keys.keys), Set(variants), "\(function) documents other \(selector)s than the library's")
        for variant in variants {
            assertDocuments("\(function) \(selector)=\(variant)", listing((keys[variant] ?? []) + common), schema(variant))
        }
    }

    func testEachCreateFunctionDocumentsItsSchemasKeysAndDefaults() {
        assertTable(of: "sc_model_create", is: ModelConfiguration.schema)
        assertTable(of: "sc_trainer_create", is: TrainerConfiguration.schema)
        assertTable(of: "sc_loader_create", is: LoaderConfiguration.schema)
        assertTable(of: "sc_range_test_create", is: RangeTestAnalyzer.schema)
        assertTable(of: "sc_trainer_range_test", is: RangeTestRunConfiguration.schema)
        assertTable(of: "sc_lr_estimator_create", is: EstimatorConfiguration.schema)
        assertTable(of: "sc_trainer_record", is: RunRecorder.schema)
    }

    func testSchedulesAndDataSetsDocumentEachVariantsKeys() {
        assertVariantTable(of: "sc_schedule_create", selector: "policy", variants: ScheduleConfiguration.policies,
                           schema: ScheduleConfiguration.schema(for:))
        assertVariantTable(of: "sc_dataset_open", selector: "format", variants: DatasetConfiguration.formats,
                           schema: DatasetConfiguration.schema(for:))
    }

    func testTheOptimizerNamesTheTrainersOptimizerKeys() {
        let line = comment(above: "sc_optimizer_create").joined(separator: " ")
        guard let list = line.firstMatch(of: try! Regex(#"Spec keys: ([a-z0-9_, ]+) \("#)) else {
            return XCTFail("sc_optimizer_create's comment has no \"Spec keys: a, b, ... (\" list")
        }
        let named = list.output[1].substring!.split(separator: ", ").map(String.init)
        XCTAssertEqual(named, OptimizerConfiguration.keys.map(\.name))
        let trainer = Set(TrainerConfiguration.schema.keys.map(\.name))
        XCTAssertTrue(Set(named).isSubset(of: trainer), "sc_optimizer_create refers to sc_trainer_create's table")
    }
}
