/// Which samples of a data set a loader uses: a subset (the first N, or a seeded stratified
/// random N), then the train or held-out part of a stratified, seeded hold-out split.
enum SampleSelection {
    static func indices(_ dataset: Dataset, _ config: LoaderConfiguration) throws -> [Int] {
        var chosen = Array(0..<dataset.count)
        if config.subset > 0 {
            guard config.subset <= dataset.count else {
                throw SuperConvError.invalidArgument("loader spec: subset=\(config.subset) is more than the \(dataset.count) samples")
            }
            chosen = config.stratified
                ? stratified(chosen, count: config.subset, dataset, seed: config.seed)
                : Array(chosen.prefix(config.subset))
        }
        if config.holdout > 0 {
            guard config.holdout < chosen.count else {
                throw SuperConvError.invalidArgument("loader spec: holdout=\(config.holdout) leaves no training samples of \(chosen.count)")
            }
            let held = Set(stratified(chosen, count: config.holdout, dataset, seed: config.seed ^ 0x4844_4F4C_444F_5554))
            chosen = chosen.filter { held.contains($0) == config.holdoutPart }
        }
        return chosen
    }

    /// `count` of `pool`, each class represented in proportion (largest remainders), chosen at
    /// random within its class; returned in data order.
    static func stratified(_ pool: [Int], count: Int, _ dataset: Dataset, seed: UInt64) -> [Int] {
        var byClass = [[Int]](repeating: [], count: dataset.classes)
        for i in pool { byClass[Int(dataset.labels[i])].append(i) }
        let quotas = byClass.map { Double($0.count) * Double(count) / Double(pool.count) }
        var take = quotas.map { Int($0) }
        let remainders = quotas.indices.sorted { (quotas[$0] - Double(take[$0]), $1) > (quotas[$1] - Double(take[$1]), $0) }
        for c in remainders.prefix(count - take.reduce(0, +)) { take[c] += 1 }
        var rng = RandomGenerator(seed: seed)
        var result: [Int] = []
        for (members, n) in zip(byClass, take) {
            var shuffled = members
            shuffleInPlace(&shuffled, &rng)
            result += shuffled.prefix(n)
        }
        return result.sorted()
    }
}

/// Fisher-Yates with the library's generator.
func shuffleInPlace<T>(_ items: inout [T], _ rng: inout RandomGenerator) {
    guard items.count > 1 else { return }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
        let j = Int(rng.next() % UInt64(i + 1))
        items.swapAt(i, j)
    }
}
