import Glibc

/// The CPU's cache sizes, read once at first use, for the blocking that depends on them: what
/// Linux reports for cpu0 (sysfs, then sysconf), or a common size where it reports nothing.
public enum CPUCache {
    /// Bytes of first-level data cache of one core (32 KiB on Intel since Haswell and AMD up to
    /// Zen 4, 48 KiB on Zen 5 and Intel since Ice Lake).
    public static let level1DataBytes: Int = sysfsBytes(level: "1") ?? sysconfBytes(_SC_LEVEL1_DCACHE_SIZE) ?? (32 << 10)

    /// The unified or data cache of `level` in /sys/devices/system/cpu/cpu0/cache/index*/.
    private static func sysfsBytes(level wanted: String) -> Int? {
        for index in 0..<8 {
            let folder = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            guard let level = readLine(folder + "level"), level == wanted,
                  let type = readLine(folder + "type"), type == "Unified" || type == "Data",
                  let size = readLine(folder + "size") else { continue }
            return parseSize(size)
        }
        return nil
    }

    private static func sysconfBytes(_ name: Int) -> Int? {
        let size = sysconf(Int32(name))
        return size > 0 ? size : nil
    }

    /// "1024K", "2M" or a number of bytes.
    static func parseSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let unit = text.last.flatMap({ units[$0] }) {
            return Int(text.dropLast()).map { $0 * unit }.flatMap { $0 > 0 ? $0 : nil }
        }
        return Int(text).flatMap { $0 > 0 ? $0 : nil }
    }

    private static func readLine(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init)
    }
}
