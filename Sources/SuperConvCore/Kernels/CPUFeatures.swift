import Glibc

/// What the processor offers beyond the x86-64 baseline the library is compiled for.
enum CPUFeatures {
    /// AVX2 and FMA, which the kernels in SuperConvKernelsAVX2 are compiled for. Read from the
    /// kernel's view of the CPU flags; SUPERCONV_NO_AVX2=1 turns those kernels off (for
    /// comparisons and for tests of the fallback).
    static let hasAVX2FMA: Bool = {
        if let off = getenv("SUPERCONV_NO_AVX2"), String(cString: off) == "1" { return false }
        guard let file = fopen("/proc/cpuinfo", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            guard text.hasPrefix("flags") else { continue }
            let flags = Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }))
            return flags.contains("avx2") && flags.contains("fma")
        }
        return false
    }()
}
