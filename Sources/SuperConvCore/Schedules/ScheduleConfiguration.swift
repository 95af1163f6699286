/// Builds a schedule from a schedule spec. `policy` selects the policy and with it the keys that
/// are valid; defaults follow the paper's recipes (PC-LR multistep from 0.35 at 50k and 70k; CLR
/// 0.1-3 with stepsize 5000; range-test ramp to 3 over 5000 iterations).
public struct ScheduleConfiguration: Sendable {
    public let schedule: any Schedule
    public let spec: Spec

    static let policies = ["fixed", "step", "multistep", "exp", "poly", "triangular", "triangular2", "exp_range",
                           "onecycle", "onecycle_cosine", "sgdr", "linear_ramp", "exp_ramp"]

    private static func schema(for policy: String) -> SpecSchema {
        typealias K = SpecSchema.Key
        let momentum = K("momentum", "0.9", "momentum, or high,low for momentum cycling against the learning rate")
        let cyclicMomentum = K("momentum", "0.95,0.85", "high,low momentum cycled against the learning rate, or one value")
        let warmup = K("warmup", "0", "iterations of linear warm-up in front of the policy")
        var keys: [K] = [K("policy", policy, "one of " + policies.joined(separator: ", "))]
        switch policy {
        case "fixed":
            keys += [K("base_lr", "0.1", "learning rate"), momentum]
        case "step":
            keys += [K("base_lr", "0.1", ""), K("gamma", "0.1", ""), K("stepsize", "5000", ""), momentum]
        case "multistep":
            keys += [K("base_lr", "0.35", ""), K("gamma", "0.1", ""), K("stepvalues", "50000,70000", ""), momentum]
        case "exp":
            keys += [K("base_lr", "0.1", ""), K("gamma", "0.9999", ""), momentum]
        case "poly":
            keys += [K("base_lr", "0.1", ""), K("power", "1", ""), K("max_iter", "10000", ""), momentum]
        case "triangular", "triangular2", "exp_range":
            keys += [K("base_lr", "0.1", ""), K("max_lr", "3", ""), K("stepsize", "5000", "iterations up"),
                     K("stepsize_down", "0", "iterations down; 0 = stepsize"),
                     K("gamma", "0.99994", "exp_range's decay per iteration"),
                     K("max_iter", "0", "hold the value from this iteration on; 0 = cycle forever"), momentum]
        case "onecycle":
            keys += [K("base_lr", "0.1", ""), K("max_lr", "3", ""), K("stepsize", "5000", ""),
                     K("max_iter", "11000", "end of the annihilation; at least 2*stepsize"),
                     K("annihilation", "0.001", "final learning rate as a fraction of base_lr"), cyclicMomentum]
        case "onecycle_cosine":
            keys += [K("max_lr", "3", ""), K("total_steps", "10000", ""), K("pct_start", "0.3", ""),
                     K("div", "25", "initial lr = max_lr/div"), K("final_div", "10000", "final lr = initial/final_div"),
                     K("three_phase", "0", "0 or 1"), K("anneal", "cos", "cos or linear"), cyclicMomentum]
        case "sgdr":
            keys += [K("base_lr", "0.1", ""), K("t0", "1000", "first period"), K("t_mult", "1", "period growth"),
                     K("eta_min", "0", ""), momentum]
        case "linear_ramp":
            keys += [K("base_lr", "0", ""), K("max_lr", "3", ""), K("max_iter", "5000", ""), momentum]
        default:  // exp_ramp
            keys += [K("base_lr", "1e-05", ""), K("max_lr", "10", ""), K("max_iter", "5000", ""), momentum]
        }
        keys.append(warmup)
        return SpecSchema(subject: "schedule (policy=\(policy))", keys: keys)
    }

    public init(spec text: String) throws {
        var policy = "fixed"
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        where token.hasPrefix("policy=") {
            policy = String(token.dropFirst("policy=".count))
        }
        guard Self.policies.contains(policy) else {
            throw SuperConvError.invalidArgument(
                "schedule spec: policy=\(policy) is invalid: expected one of \(Self.policies.joined(separator: "|"))")
        }
        let spec = try Self.schema(for: policy).parse(text)
        self.spec = spec
        let schedule = try Self.make(policy, spec)
        let warmup = try spec.int("warmup", in: 0...Int(Int32.max))
        self.schedule = warmup > 0 ? WarmupSchedule(iterations: warmup, schedule: schedule) : schedule
    }

    private static let maxIterations = Int(Int32.max)

    private static func make(_ policy: String, _ spec: Spec) throws -> any Schedule {
        func rate(_ key: String) throws -> Double { try spec.double(key, in: 0...1e6) }
        func count(_ key: String, from lower: Int = 1) throws -> Int { try spec.int(key, in: lower...maxIterations) }
        func maxRate(above base: Double) throws -> Double {
            let value = try rate("max_lr")
            guard value >= base else { throw spec.invalid("max_lr", "expected at least base_lr=\(base)") }
            return value
        }
        func constantMomentum() throws -> Double {
            guard case .constant(let m) = try momentum() else {
                throw spec.invalid("momentum", "this policy takes a single momentum value")
            }
            return m
        }
        func momentum() throws -> MomentumPolicy {
            let parts = spec.string("momentum").split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.compactMap { Double($0) }
            guard (1...2).contains(parts.count), values.count == parts.count,
                  values.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
                throw spec.invalid("momentum", "expected m or high,low with each in [0, 1)")
            }
            return values.count == 1 ? .constant(values[0]) : .cyclical(high: values[0], low: values[1])
        }

        switch policy {
        case "fixed":
            return FixedSchedule(learningRate: try rate("base_lr"), momentum: try constantMomentum())
        case "step", "multistep", "exp", "poly":
            let rule: CaffeDecaySchedule.Rule
            switch policy {
            case "step": rule = .step(stepsize: try count("stepsize"))
            case "multistep":
                let parts = spec.string("stepvalues").split(separator: ",", omittingEmptySubsequences: false)
                let values = parts.compactMap { Int($0) }
                guard values.count == parts.count, values.allSatisfy({ $0 >= 1 }),
                      zip(values, values.dropFirst()).allSatisfy({ $0 < $1 }) else {
                    throw spec.invalid("stepvalues", "expected increasing positive iterations separated by commas")
                }
                rule = .multistep(stepvalues: values)
            case "exp": rule = .exponential
            default:
                rule = .polynomial(maxIterations: try count("max_iter"),
                                   power: try spec.double("power", in: 0...100))
            }
            let gamma = policy == "poly" ? 1 : try spec.double("gamma", in: 0...1e6, excludingLowerBound: true)
            return CaffeDecaySchedule(rule: rule, baseLearningRate: try rate("base_lr"), gamma: gamma,
                                      momentum: try constantMomentum())
        case "triangular", "triangular2", "exp_range":
            let base = try rate("base_lr")
            let up = try count("stepsize")
            let down = try count("stepsize_down", from: 0)
            return CyclicalSchedule(mode: CyclicalSchedule.Mode(rawValue: policy)!, baseLearningRate: base,
                                    maxLearningRate: try maxRate(above: base), stepsUp: up,
                                    stepsDown: down == 0 ? up : down,
                                    gamma: try spec.double("gamma", in: 0...1, excludingLowerBound: true),
                                    momentum: try momentum(), maxIterations: try count("max_iter", from: 0))
        case "onecycle":
            let base = try rate("base_lr")
            let stepsize = try count("stepsize")
            let maxIterations = try count("max_iter")
            guard maxIterations >= 2 * stepsize else {
                throw spec.invalid("max_iter", "expected at least 2*stepsize=\(2 * stepsize)")
            }
            return OneCycleSchedule(baseLearningRate: base, maxLearningRate: try maxRate(above: base),
                                    stepsize: stepsize, maxIterations: maxIterations,
                                    annihilation: try spec.double("annihilation", in: 0...1),
                                    momentum: try momentum())
        case "onecycle_cosine":
            let total = try count("total_steps", from: 2)
            let pct = try spec.double("pct_start", in: 0...1, excludingLowerBound: true)
            let threePhase = try spec.choice("three_phase", ["0", "1"]) == "1"
            // Each phase must span at least one iteration, as PyTorch requires.
            guard pct * Double(total) - 1 > 0, pct < 1,
                  !threePhase || (2 * pct * Double(total) - 2 > pct * Double(total) - 1 && 2 * pct * Double(total) - 2 < Double(total) - 1) else {
                throw spec.invalid("pct_start", "every phase needs at least one iteration with total_steps=\(total)")
            }
            return CosineOneCycleSchedule(maxLearningRate: try rate("max_lr"), totalSteps: total, percentStart: pct,
                                          divFactor: try spec.double("div", in: 0...1e12, excludingLowerBound: true),
                                          finalDivFactor: try spec.double("final_div", in: 0...1e12, excludingLowerBound: true),
                                          threePhase: threePhase,
                                          cosine: try spec.choice("anneal", ["cos", "linear"]) == "cos",
                                          momentum: try momentum())
        case "sgdr":
            let base = try rate("base_lr")
            let etaMin = try rate("eta_min")
            guard etaMin <= base else { throw spec.invalid("eta_min", "expected at most base_lr=\(base)") }
            return WarmRestartsSchedule(baseLearningRate: base, firstPeriod: try count("t0"),
                                        periodMultiplier: try spec.int("t_mult", in: 1...1000),
                                        minimumLearningRate: etaMin, momentum: try constantMomentum())
        default:  // linear_ramp, exp_ramp
            let exponential = policy == "exp_ramp"
            let base = try rate("base_lr")
            guard !exponential || base > 0 else { throw spec.invalid("base_lr", "an exponential ramp needs base_lr > 0") }
            return RampSchedule(exponential: exponential, baseLearningRate: base, maxLearningRate: try maxRate(above: base),
                                maxIterations: try count("max_iter"), momentum: try constantMomentum())
        }
    }
}
